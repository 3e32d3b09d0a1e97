// LogTail: the last lines of a step's output, bounded in lines and line length, for errors.
//
// Not thread-safe (the solver guards it).
#ifndef KILN_ENGINE_SOLVER_LOG_TAIL_H_
#define KILN_ENGINE_SOLVER_LOG_TAIL_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::engine::solver::internal {

class LogTail {
 public:
  // Keeps at most `max_lines` lines of at most `max_line_bytes` bytes each (longer lines are
  // cut and end in "...").
  LogTail(size_t max_lines, size_t max_line_bytes)
      : max_lines_(max_lines), max_line_bytes_(max_line_bytes) {}

  // Appends output bytes in any chunking; '\n' ends a line, '\r' is dropped.
  void Append(std::string_view bytes);
  // The kept lines, oldest first, including an unfinished last line.
  std::vector<std::string> Lines() const;

 private:
  void PushLine(std::string line);

  size_t max_lines_;
  size_t max_line_bytes_;
  std::vector<std::string> lines_;  // ring buffer once full; first_ is the oldest
  size_t first_ = 0;
  std::string partial_;
  bool partial_cut_ = false;
};

}  // namespace kiln::engine::solver::internal

#endif  // KILN_ENGINE_SOLVER_LOG_TAIL_H_
