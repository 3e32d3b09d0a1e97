// Per-instruction line splitting used by the parser (BuildKit's line_parsers). Internal.
#ifndef KILN_ENGINE_FRONTEND_PARSER_INTERNAL_H_
#define KILN_ENGINE_FRONTEND_PARSER_INTERNAL_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/frontend/parser.h"

namespace kiln::engine::internal {

// Builds a node (keyword, flags, args, nested) from one logical line. Lines are not
// numbered here. InvalidArgument on bad JSON element types or missing ENV/LABEL values.
absl::StatusOr<AstNode> NodeFromLine(std::string_view line, char escape);

// BuildKit's parseWords: splits on whitespace, keeping quotes and escapes in the words.
std::vector<std::string> ParseWords(std::string_view rest, char escape);

// Parses `rest` as a JSON array of strings. nullopt when it is not a JSON array;
// InvalidArgument when it is an array holding a non-string.
absl::StatusOr<std::optional<std::vector<std::string>>> ParseJsonArray(std::string_view rest);

}  // namespace kiln::engine::internal

#endif  // KILN_ENGINE_FRONTEND_PARSER_INTERNAL_H_
