# Run by "cmake --install" (install(SCRIPT) in systemd/CMakeLists.txt, which
# sets the MTLS_* variables first): writes the units for the prefix of this
# install and installs them with the timers and the sysusers.d and tmpfiles.d
# snippets. file(INSTALL) honours DESTDIR and lists the files in the
# install manifest.
set(prefix "${CMAKE_INSTALL_PREFIX}")

# mtls_sd_dir(OUT OVERRIDE SYSTEMD_DIR FALLBACK)
function(mtls_sd_dir out override sd_dir fallback)
  if(override)
    set(${out} "${override}" PARENT_SCOPE)
  elseif(sd_dir AND "${prefix}" STREQUAL "${MTLS_SD_PREFIX}")
    set(${out} "${sd_dir}" PARENT_SCOPE)
  else()
    set(${out} "${prefix}/${fallback}" PARENT_SCOPE)
  endif()
endfunction()

function(mtls_full_dir out dir)
  if(IS_ABSOLUTE "${dir}")
    set(${out} "${dir}" PARENT_SCOPE)
  else()
    set(${out} "${prefix}/${dir}" PARENT_SCOPE)
  endif()
endfunction()

mtls_sd_dir(unitdir "${MTLS_SYSTEMD_UNITDIR}" "${MTLS_SD_UNITDIR}" lib/systemd/system)
mtls_sd_dir(sysusersdir "${MTLS_SYSUSERSDIR}" "${MTLS_SD_SYSUSERSDIR}" lib/sysusers.d)
mtls_sd_dir(tmpfilesdir "${MTLS_TMPFILESDIR}" "${MTLS_SD_TMPFILESDIR}" lib/tmpfiles.d)
mtls_full_dir(BINDIR "${CMAKE_INSTALL_BINDIR}")
mtls_full_dir(LIBEXECDIR "${CMAKE_INSTALL_LIBEXECDIR}")

set(files "")
foreach(u ${MTLS_SD_UNITS})
  configure_file("${MTLS_SD_SRC}/${u}.in" "${MTLS_SD_OUT}/${u}" @ONLY)
  list(APPEND files "${MTLS_SD_OUT}/${u}")
endforeach()
set(mode PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
file(INSTALL DESTINATION "${unitdir}" TYPE FILE ${mode} FILES ${files}
  "${MTLS_SD_SRC}/mtls-renew.timer" "${MTLS_SD_SRC}/mtls-renew@.timer")
file(INSTALL DESTINATION "${sysusersdir}" TYPE FILE ${mode}
  FILES "${MTLS_SD_SRC}/mtls-agent.sysusers" RENAME mtls-agent.conf)
file(INSTALL DESTINATION "${tmpfilesdir}" TYPE FILE ${mode}
  FILES "${MTLS_SD_SRC}/mtls-agent.tmpfiles" RENAME mtls-agent.conf)
