# Real unikernels to test against: the pinned, pristine Unikraft and Solo5
# sources in USC_UPSTREAM_DIR (the project's shared/upstream folder), unpacked
# and built in the build tree, once: a build is redone only when its tarball
# or the script that builds it changes. Nothing of theirs enters this repo.
#
# Sets USC_HAVE_UPSTREAM, and when it is true:
#   USC_SOLO5_DIR        built Solo5 tree (toolchain, bindings, tenders, tests)
#   USC_UNIKRAFT_DIR     unpacked Unikraft core (builds go out of tree, O=)
#   USC_UK_HELLO_DIR     unpacked app-helloworld, Unikraft's own example
# and the targets upstream-solo5 and upstream-unikraft (built by ALL).

get_filename_component(_usc_upstream_default
  "${PROJECT_SOURCE_DIR}/../shared/upstream" ABSOLUTE)
set(USC_UPSTREAM_DIR "${_usc_upstream_default}" CACHE PATH
  "Folder of the pinned upstream unikernel tarballs (solo5-*, unikraft-*, app-helloworld-*)")
set(USC_SOLO5_VERSION "v0.12.1-7-g469c1a8" CACHE STRING
  "SOLO5_VERSION written into a Solo5 snapshot that lacks version.h.distrib")

# _usc_upstream_tarball(VAR PATTERN): the one tarball matching PATTERN.
function(_usc_upstream_tarball var pattern)
  file(GLOB found "${USC_UPSTREAM_DIR}/${pattern}")
  list(LENGTH found n)
  if(n EQUAL 1)
    set(${var} "${found}" PARENT_SCOPE)
  else()
    set(${var} "" PARENT_SCOPE)
  endif()
endfunction()

_usc_upstream_tarball(USC_SOLO5_TARBALL "solo5-*.tar.gz")
_usc_upstream_tarball(USC_UNIKRAFT_TARBALL "unikraft-*.tar.gz")
_usc_upstream_tarball(USC_UK_HELLO_TARBALL "app-helloworld-*.tar.gz")

if(USC_SOLO5_TARBALL AND USC_UNIKRAFT_TARBALL AND USC_UK_HELLO_TARBALL)
  set(USC_HAVE_UPSTREAM TRUE)
else()
  set(USC_HAVE_UPSTREAM FALSE)
  message(WARNING "uniscope: no upstream unikernel tarballs in "
    "${USC_UPSTREAM_DIR} (set USC_UPSTREAM_DIR); the tests on real "
    "unikernels will fail saying so")
  return()
endif()

set(_usc_up "${CMAKE_BINARY_DIR}/upstream")
set(USC_SOLO5_DIR "${_usc_up}/solo5")
set(USC_UNIKRAFT_DIR "${_usc_up}/unikraft")
set(USC_UK_HELLO_DIR "${_usc_up}/app-helloworld")

add_custom_command(
  OUTPUT "${_usc_up}/solo5.stamp"
  COMMAND "${PROJECT_SOURCE_DIR}/cmake/upstream-solo5.sh"
          "${USC_SOLO5_TARBALL}" "${USC_SOLO5_DIR}" "${USC_SOLO5_VERSION}"
  COMMAND ${CMAKE_COMMAND} -E touch "${_usc_up}/solo5.stamp"
  DEPENDS "${USC_SOLO5_TARBALL}" "${PROJECT_SOURCE_DIR}/cmake/upstream-solo5.sh"
  COMMENT "Unpacking and building Solo5 (upstream, pinned)"
  VERBATIM)
add_custom_target(upstream-solo5 ALL DEPENDS "${_usc_up}/solo5.stamp")

add_custom_command(
  OUTPUT "${_usc_up}/unikraft.stamp"
  COMMAND "${PROJECT_SOURCE_DIR}/cmake/upstream-unpack.sh"
          "${USC_UNIKRAFT_TARBALL}" "${USC_UNIKRAFT_DIR}"
  COMMAND "${PROJECT_SOURCE_DIR}/cmake/upstream-unpack.sh"
          "${USC_UK_HELLO_TARBALL}" "${USC_UK_HELLO_DIR}"
  COMMAND ${CMAKE_COMMAND} -E touch "${_usc_up}/unikraft.stamp"
  DEPENDS "${USC_UNIKRAFT_TARBALL}" "${USC_UK_HELLO_TARBALL}"
          "${PROJECT_SOURCE_DIR}/cmake/upstream-unpack.sh"
  COMMENT "Unpacking Unikraft and app-helloworld (upstream, pinned)"
  VERBATIM)
add_custom_target(upstream-unikraft ALL DEPENDS "${_usc_up}/unikraft.stamp")
