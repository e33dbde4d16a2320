# Shared build settings for uniscope's host code.

# Warnings every host target of ours gets.
set(USC_HOST_WARNINGS -Wall -Wextra -Wshadow -Werror)

# usc_host_target(TARGET): our warnings, plus sanitizers when USC_SANITIZE.
function(usc_host_target target)
  target_compile_options(${target} PRIVATE ${USC_HOST_WARNINGS})
  target_compile_definitions(${target} PRIVATE _GNU_SOURCE)
  if(USC_SANITIZE)
    target_compile_options(${target} PRIVATE
      -fsanitize=address,undefined -fno-sanitize-recover=all
      -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
  if(USC_TSAN)
    target_compile_options(${target} PRIVATE -fsanitize=thread
      -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=thread)
  endif()
endfunction()

find_package(PkgConfig REQUIRED)
pkg_check_modules(CHECK IMPORTED_TARGET check)

# usc_tool_tests(PREFIX LIB): a tool's own unit tests and fuzz targets
# (tests/unit/check_PREFIX*.c, fuzz/fuzz_PREFIX*.c) also link LIB, the
# tool's code as a library. Tool folders are added before tests/ and
# fuzz/, which link what is registered here (usc_link_tool_libs).
function(usc_tool_tests prefix lib)
  set_property(GLOBAL APPEND PROPERTY USC_TOOL_TEST_LIBS "${prefix}=${lib}")
endfunction()

# usc_link_tool_libs(TARGET NAME): link TARGET, built from the check_ or
# fuzz_ source NAME, with the library registered for NAME's prefix.
function(usc_link_tool_libs target name)
  get_property(pairs GLOBAL PROPERTY USC_TOOL_TEST_LIBS)
  foreach(pair IN LISTS pairs)
    string(REPLACE "=" ";" kv "${pair}")
    list(GET kv 0 prefix)
    list(GET kv 1 lib)
    if(name MATCHES "^(check|fuzz)_${prefix}")
      target_link_libraries(${target} PRIVATE ${lib})
    endif()
  endforeach()
endfunction()
