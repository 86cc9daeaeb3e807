# Fuzz targets for the agent's configuration parsers: the config file text
# (cfg_load_buffer) and the command line (cfg_from_args, words separated by
# NUL bytes). The seeds name /etc/passwd where a readable file is needed,
# so the checks after parsing are reached too.
if(TARGET mtls_agent_config)
  mtls_fuzz_target(fuzz_config SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_config.c
    LIBS mtls_agent_config CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/config)
  mtls_fuzz_target(fuzz_config_args SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_config_args.c
    LIBS mtls_agent_config CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/config_args)
endif()
