# Compile options shared by every target of the project.
#
# infomamba_apply_options(TARGET) adds warnings, the logging floor and the
# optional sanitizer and -Werror settings to one target.

if(INFOMAMBA_SANITIZE)
  # -fno-sanitize-recover makes an undefined-behaviour report fail the test.
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

function(infomamba_apply_options target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
                                           -Wno-sign-conversion)
  if(INFOMAMBA_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  target_compile_definitions(${target} PRIVATE SPDLOG_ACTIVE_LEVEL=${INFOMAMBA_LOG_LEVEL})
endfunction()
