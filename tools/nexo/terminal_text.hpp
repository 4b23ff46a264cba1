// Text from outside the process, made safe to print on a terminal. A peer's
// bytes, a decoded string or input quoted in an error message may hold ESC
// sequences, carriage returns and newlines that would move the cursor, recolour
// the screen or forge a line of the tool's own output ("Request: forged (from
// 1.2.3.4:5)"). Every place the tool prints such text goes through printable().
//
// Escapes, so that what is printed says unambiguously which bytes came:
//   \\  \n  \r  \t          a backslash, newline, carriage return, tab
//   \xHH                    any other C0 control or DEL, and every byte that is
//                           not part of well-formed UTF-8
//   \u{HHHH}                C1 controls (U+0080..U+009F), line and paragraph
//                           separators (U+2028, U+2029) and the bidirectional
//                           controls that reorder what a terminal shows
//                           (U+061C, U+200E, U+200F, U+202A..U+202E, U+2066..U+2069)
// Everything else (printable ASCII, other well-formed UTF-8) passes unchanged.
//
// Thread contract: pure functions, any thread.
#pragma once

#include <string>
#include <string_view>

namespace nexo::tool {

// `text` on one line, escaped as above.
std::string printable(std::string_view text);

// The same, but '\n' is kept as a line break (for multi-line text the tool made
// itself, such as a decoded value's layout, whose strings may still hold anything).
std::string printable_lines(std::string_view text);

// Prints "nexo COMMAND: MESSAGE" on stderr as one line (the message escaped)
// and returns 1, the exit status of a failed command.
int report_failure(std::string_view command, std::string_view message);

}  // namespace nexo::tool
