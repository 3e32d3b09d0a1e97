#include "engine/solver/log_tail.h"

#include <utility>

namespace kiln::engine::solver::internal {

void LogTail::Append(std::string_view bytes) {
  for (char c : bytes) {
    if (c == '\n') {
      PushLine(std::move(partial_));
      partial_.clear();
      partial_cut_ = false;
    } else if (c == '\r') {
      continue;
    } else if (partial_.size() < max_line_bytes_) {
      partial_.push_back(c);
    } else {
      partial_cut_ = true;
    }
  }
}

void LogTail::PushLine(std::string line) {
  if (max_lines_ == 0) return;
  if (partial_cut_) line += "...";
  if (lines_.size() < max_lines_) {
    lines_.push_back(std::move(line));
    return;
  }
  lines_[first_] = std::move(line);
  first_ = (first_ + 1) % max_lines_;
}

std::vector<std::string> LogTail::Lines() const {
  std::vector<std::string> out;
  out.reserve(lines_.size() + 1);
  for (size_t i = 0; i < lines_.size(); ++i) out.push_back(lines_[(first_ + i) % lines_.size()]);
  if (!partial_.empty()) {
    out.push_back(partial_cut_ ? partial_ + "..." : partial_);
    if (out.size() > max_lines_) out.erase(out.begin());
  }
  return out;
}

}  // namespace kiln::engine::solver::internal
