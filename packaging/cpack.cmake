# SPDX-License-Identifier: GPL-2.0-only
#
# packaging/cpack.cmake (included at the end of CMakeLists.txt): what
# `cmake --install` and the Debian package add to the engine and its
# bare-named link, the generated man page dmabuf_uring(7), and the package:
#
#   cmake --build build --target package     # build/dmabuf-uring_VER_ARCH.deb
#
# The package is CPack's DEB generator with CPACK_SET_DESTDIR, so it holds
# exactly what `cmake --install build --prefix /usr` would put on the system.

set(DBU_PKG_NAME dmabuf-uring)
set(DBU_PKG_DATADIR "${CMAKE_INSTALL_DATADIR}/${DBU_PKG_NAME}")

# ---------------------------------------------------------------- dmabuf-bench
# The job files and scripts/ keep the source tree's layout under
# share/dmabuf-uring, so scripts/dbu (REPO = two folders above it) finds
# REPO/jobs and REPO/build/dmabuf_uring there, unchanged. build/ holds only
# a link to the installed engine.
install(DIRECTORY jobs/ DESTINATION ${DBU_PKG_DATADIR}/jobs)
install(PROGRAMS scripts/dmabuf-bench DESTINATION ${DBU_PKG_DATADIR}/scripts)
install(DIRECTORY scripts/dbu DESTINATION ${DBU_PKG_DATADIR}/scripts
        FILES_MATCHING PATTERN "*.py" PATTERN "__pycache__" EXCLUDE)
install(CODE "
  set(_dir \"\${CMAKE_INSTALL_PREFIX}/${DBU_PKG_DATADIR}/build\")
  file(RELATIVE_PATH _rel \"\${_dir}\"
       \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/fio/fio-dmabuf_uring.so\")
  file(MAKE_DIRECTORY \"\$ENV{DESTDIR}\${_dir}\")
  file(CREATE_LINK \"\${_rel}\" \"\$ENV{DESTDIR}\${_dir}/dmabuf_uring\" SYMBOLIC)
  message(STATUS \"Installing: \$ENV{DESTDIR}\${_dir}/dmabuf_uring -> \${_rel}\")")
file(RELATIVE_PATH DBU_BENCH_REL "/p/${CMAKE_INSTALL_BINDIR}" "/p/${DBU_PKG_DATADIR}")
configure_file(packaging/dmabuf-bench.in packaging/dmabuf-bench @ONLY)
install(PROGRAMS ${CMAKE_CURRENT_BINARY_DIR}/packaging/dmabuf-bench
        DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES LICENSE DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${DBU_PKG_NAME}
        RENAME copyright)

# ---------------------------------------------------------------- fio version
# The package depends on exactly the Debian fio the headers came from:
# scripts/setup marks the source it fetched (.dbu-source-DEBVERSION), else the
# installed fio when it is the headers' release, else any Debian revision of
# the headers' upstream release. DBU_DEB_FIO_VERSION overrides.
set(DBU_DEB_FIO_VERSION "" CACHE STRING
    "Debian version of fio the package depends on exactly (default: detected)")
set(_dbu_fio_deb "${DBU_DEB_FIO_VERSION}")
string(REGEX REPLACE "^fio-" "" _dbu_fio_up "${FIO_HEADERS_VERSION}")
if(NOT _dbu_fio_deb)
  file(GLOB _dbu_marks "${FIO_SOURCE_DIR}/.dbu-source-*"
                       "${FIO_SOURCE_DIR}/.dbu-built-*")
  list(LENGTH _dbu_marks _n)
  if(_n EQUAL 1)
    string(REGEX REPLACE "^.*/\\.dbu-(source|built)-" "" _dbu_fio_deb
           "${_dbu_marks}")
  else()
    execute_process(COMMAND dpkg-query -W -f=\${Version} fio
                    OUTPUT_VARIABLE _v RESULT_VARIABLE _rc ERROR_QUIET)
    string(REGEX REPLACE "^[0-9]+:" "" _up "${_v}")
    string(REGEX REPLACE "-[^-]*$" "" _up "${_up}")
    if(_rc EQUAL 0 AND _up STREQUAL _dbu_fio_up)
      set(_dbu_fio_deb "${_v}")
    endif()
  endif()
endif()
set(DBU_DEB_FIO_DEPENDS "fio (= ${_dbu_fio_deb})")

# ---------------------------------------------------------------- man page
# Generated from the built engine under the fio it is built for, so it needs
# that fio, and an engine fio can load plainly (not ASan, not a pretend version).
find_program(DBU_PYTHON3 python3 HINTS /usr/bin)
set(_dbu_why "")
if(NOT FIO_BIN)
  set(_dbu_why "no fio on PATH (the man page comes from fio --enghelp)")
elseif(NOT DBU_PYTHON3)
  set(_dbu_why "no python3 (packaging/gen-manpage.py)")
elseif(DBU_SANITIZE)
  set(_dbu_why "DBU_SANITIZE=ON (an ASan engine does not load into plain fio)")
elseif(DBU_FIO_VERSION_OVERRIDE)
  set(_dbu_why "DBU_FIO_VERSION_OVERRIDE is set (the engine refuses this fio)")
elseif(NOT _dbu_fio_deb)
  set(_dbu_why "${FIO_SOURCE_DIR} is no Debian fio source (scripts/setup marks those; -DDBU_DEB_FIO_VERSION=VER names one): the package depends on exactly one Debian fio")
else()
  execute_process(COMMAND ${FIO_BIN} --version OUTPUT_VARIABLE _v
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT _v STREQUAL FIO_HEADERS_VERSION)
    set(_dbu_why "${FIO_BIN} is ${_v}, the headers are ${FIO_HEADERS_VERSION}")
  endif()
endif()

if(NOT _dbu_why)
  file(GLOB_RECURSE _dbu_jobs CONFIGURE_DEPENDS "${CMAKE_SOURCE_DIR}/jobs/*.fio")
  set(_dbu_man ${CMAKE_CURRENT_BINARY_DIR}/dmabuf_uring.7)
  add_custom_command(OUTPUT ${_dbu_man} ${_dbu_man}.gz
    COMMAND ${DBU_PYTHON3} ${CMAKE_SOURCE_DIR}/packaging/gen-manpage.py
            --fio ${FIO_BIN} --engine $<TARGET_FILE:dmabuf_uring>
            --jobs ${CMAKE_SOURCE_DIR}/jobs
            --report-c ${CMAKE_SOURCE_DIR}/engines/report.c
            --version ${DBU_VERSION} --fio-deb "${_dbu_fio_deb}"
            --loader-dir ${DBU_LOADER_DIR}
            -o ${_dbu_man} --gzip ${_dbu_man}.gz
    DEPENDS dmabuf_uring $<TARGET_FILE:dmabuf_uring>
            ${CMAKE_SOURCE_DIR}/packaging/gen-manpage.py
            ${CMAKE_SOURCE_DIR}/engines/report.c ${_dbu_jobs}
    COMMENT "Generating dmabuf_uring.7 (fio --enghelp, jobs/, engines/report.c)"
    VERBATIM)
  add_custom_target(dbu_manpage ALL DEPENDS ${_dbu_man} ${_dbu_man}.gz)
  install(FILES ${_dbu_man}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man7)
else()
  message(STATUS "dmabuf_uring.7 and the Debian package: off, ${_dbu_why}")
  # CMake reserves "package" while an earlier configure's CPack files remain
  file(REMOVE "${CMAKE_CURRENT_BINARY_DIR}/CPackConfig.cmake"
              "${CMAKE_CURRENT_BINARY_DIR}/CPackSourceConfig.cmake")
  add_custom_target(package
    COMMAND ${CMAKE_COMMAND} -E echo
            "package: not built here: ${_dbu_why}"
    COMMAND ${CMAKE_COMMAND} -E false
    VERBATIM)
  return()
endif()

# ---------------------------------------------------------------- the package
if(NOT DBU_LOADER_DIR MATCHES "^/(usr/)?lib(/|$)")
  message(WARNING "DBU_LOADER_DIR=${DBU_LOADER_DIR} is no glibc system "
    "directory: fio will not find the packaged engine by its bare name")
endif()
find_program(DBU_DPKG_SHLIBDEPS dpkg-shlibdeps)
string(REGEX REPLACE "[^A-Za-z0-9.+~]" "." _dbu_debver "${DBU_VERSION}")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ${DBU_PKG_NAME})
set(CPACK_PACKAGE_VERSION ${_dbu_debver})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "fio I/O engine for dma-buf memory over io_uring fixed buffers")
set(CPACK_PACKAGE_CONTACT "dmabuf_uring developers <dmabuf-uring@localhost>"
    CACHE STRING "the package's Maintainer")
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)   # what CPACK_SET_DESTDIR installs under
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_VERSION ${_dbu_debver})
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "dmabuf_uring is an external fio engine, built for ${FIO_HEADERS_VERSION}, for
the dmabuf read/write via io_uring kernel series, with the job files and
the dmabuf-bench tool that run its scenarios. fio finds the engine by name:
fio --ioengine=dmabuf_uring. See dmabuf_uring(7).")
set(CPACK_DEBIAN_PACKAGE_DEPENDS "${DBU_DEB_FIO_DEPENDS}, python3")
if(DBU_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
else()
  message(WARNING "no dpkg-shlibdeps (dpkg-dev): the package will not "
    "depend on the engine's libraries (liburing, libdrm, libdrm_amdgpu)")
endif()
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_SOURCE_GENERATOR TGZ)
set(CPACK_SOURCE_IGNORE_FILES "/\\\\.git/" "/build[^/]*/" "__pycache__")
include(CPack)
