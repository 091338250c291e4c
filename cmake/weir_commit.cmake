# weir_commit.cmake - writes OUT, a header defining WEIR_COMMIT: the git
# commit of SRC (with -dirty when the work tree differs from it), or
# "unknown" where there is no git or no repository (a release tarball, a
# copy); the environment variable WEIR_COMMIT, when set, instead (a
# container build has no .git). Run at every build (cmake -P) so that
# `weir --version` names the commit it was built from; OUT is rewritten
# only when that changed, so nothing rebuilds otherwise.
set(commit "unknown")
find_package(Git QUIET)
if(NOT "$ENV{WEIR_COMMIT}" STREQUAL "")
  set(commit "$ENV{WEIR_COMMIT}")
elseif(GIT_FOUND)
  execute_process(COMMAND ${GIT_EXECUTABLE} -C ${SRC} rev-parse --short=12 HEAD
    OUTPUT_VARIABLE head OUTPUT_STRIP_TRAILING_WHITESPACE
    RESULT_VARIABLE rc ERROR_QUIET)
  if(rc EQUAL 0 AND head)
    set(commit "${head}")
    execute_process(COMMAND ${GIT_EXECUTABLE} -C ${SRC} diff --quiet HEAD --
      RESULT_VARIABLE dirty ERROR_QUIET)
    if(NOT dirty EQUAL 0)
      string(APPEND commit "-dirty")
    endif()
  endif()
endif()
set(text "#define WEIR_COMMIT \"${commit}\"\n")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
endif()
if(NOT "${old}" STREQUAL "${text}")
  file(WRITE ${OUT} "${text}")
endif()
