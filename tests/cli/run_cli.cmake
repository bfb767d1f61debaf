# Runs the infomamba binary once and checks its exit code and output.
#
#   cmake -DPROGRAM=<path> -DARGUMENTS=<arguments separated by |>
#         -DEXPECT_EXIT=<code> [-DEXPECT_REGEX=<regex matched against stdout + stderr>]
#         -P run_cli.cmake
#
# CTest alone can check either the exit code or the output of a test, not
# both; this script checks both.
string(REPLACE "|" ";" argument_list "${ARGUMENTS}")
execute_process(
  COMMAND "${PROGRAM}" ${argument_list}
  RESULT_VARIABLE exit_code
  OUTPUT_VARIABLE stdout_text
  ERROR_VARIABLE stderr_text)

message(STATUS "exit code: ${exit_code}")
message(STATUS "stdout:\n${stdout_text}")
message(STATUS "stderr:\n${stderr_text}")

if(NOT exit_code STREQUAL EXPECT_EXIT)
  message(FATAL_ERROR "exit code ${exit_code}, expected ${EXPECT_EXIT}")
endif()
if(DEFINED EXPECT_REGEX AND NOT "${stdout_text}${stderr_text}" MATCHES "${EXPECT_REGEX}")
  message(FATAL_ERROR "output does not match the regular expression \"${EXPECT_REGEX}\"")
endif()
