# Fails when docs/configuration.md is not what weir-config-doc prints.
execute_process(COMMAND ${GEN} OUTPUT_VARIABLE generated RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "weir-config-doc failed: ${rc}")
endif()
file(READ ${DOC} committed)
if(NOT generated STREQUAL committed)
  message(FATAL_ERROR "docs/configuration.md is stale: regenerate with "
    "build/<preset>/bin/weir-config-doc > docs/configuration.md")
endif()
