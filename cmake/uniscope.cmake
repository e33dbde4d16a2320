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
endfunction()

find_package(PkgConfig REQUIRED)
pkg_check_modules(CHECK IMPORTED_TARGET check)
