# SilkPackage.cmake - Debian packages of silk with CPack (`make package`, docs/deployment.md).
#
# Four packages, from the install rules of the tree (cpack -G DEB in the build tree, or
# `make package`, which leaves them in build/packages/):
#
#   libsilk<SOVERSION>  the shared libraries: libsilk, libsilk_json, libsilk_gateway and
#                       libsilk_ctl .so.<SOVERSION> and the files they point to
#   libsilk-dev         headers, static libraries, the .so links, the CMake package config,
#                       the .pc files, silk's protos, silkc and protoc-gen-silk
#   silk-samples        wstest-service, wstest-caller, silk-gateway and silk-ctl (samples/wstest)
#   silk-systemd        deploy/systemd/: the unit templates, their example environment files,
#                       and the system user silk they run as (sysusers.d, made by postinst)
#
# The libraries' install lines (cmake/SilkLibrary.cmake, runtime/, proto/, codegen/) name no
# component, so everything they install lands in CMake's "Unspecified" component, which is
# libsilk-dev here; cmake/SilkPackageSplit.cmake, run by CPack after it has staged the files,
# moves the shared objects' real files and soname links from there into the library package,
# so that the two packages never hold the same file. Depends of the binary packages come
# from dpkg-shlibdeps (CPACK_DEBIAN_PACKAGE_SHLIBDEPS); libsilk-dev adds the Debian -dev
# packages its headers, static libraries, package config and silkc need.

set(SILK_PACKAGE_DIR ${CMAKE_BINARY_DIR}/packages)
set(SILK_PACKAGE_CONTACT "silk maintainers <silk@localhost>"
    CACHE STRING "The Maintainer field of silk's Debian packages")
set(SILK_PACKAGE_RELEASE 1 CACHE STRING "The Debian revision of silk's packages")
set(silk_lib_package libsilk${SILK_SOVERSION})
set(silk_deb_version ${PROJECT_VERSION}-${SILK_PACKAGE_RELEASE})

# --- the samples and the unit templates (cmake --install installs them too) -----------------
install(TARGETS wstest-service wstest-caller silk-gateway silk-ctl
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT samples)
install(FILES deploy/systemd/silk-service@.service deploy/systemd/silk-gateway@.service
        DESTINATION lib/systemd/system COMPONENT systemd)
install(FILES deploy/systemd/silk.sysusers DESTINATION lib/sysusers.d RENAME silk.conf
        COMPONENT systemd)
install(FILES deploy/systemd/service.env.example deploy/systemd/gateway.env.example
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/silk-systemd/examples COMPONENT systemd)

# --- CPack ----------------------------------------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME silk)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${SILK_PACKAGE_CONTACT}")
# No CPACK_PACKAGE_DESCRIPTION_SUMMARY: CPackDeb would put it before every package's own
# synopsis, the first line of each CPACK_DEBIAN_<COMPONENT>_DESCRIPTION below.
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_OUTPUT_FILE_PREFIX ${SILK_PACKAGE_DIR})
set(CPACK_STRIP_FILES ON)
set(CPACK_PRE_BUILD_SCRIPTS ${CMAKE_CURRENT_LIST_DIR}/SilkPackageSplit.cmake)
# What SilkPackageSplit.cmake needs to know (CPack passes every CPACK_* variable on).
set(CPACK_SILK_LIBDIR ${CMAKE_INSTALL_LIBDIR})
set(CPACK_SILK_LIBRARIES silk silk_json silk_gateway silk_ctl)

set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL libs Unspecified samples systemd)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE ${SILK_PACKAGE_RELEASE})
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)

set(CPACK_DEBIAN_LIBS_PACKAGE_NAME ${silk_lib_package})
set(CPACK_DEBIAN_LIBS_PACKAGE_SECTION libs)
string(CONCAT CPACK_DEBIAN_LIBS_DESCRIPTION
       "silk's shared libraries\n"
       " libsilk (servers, channels, the registry), libsilk_json (the proto3 JSON "
       "mapping), libsilk_gateway (the WebSocket and HTTP edge) and libsilk_ctl "
       "(silk-ctl).")
# A shlibs file, so that dpkg-shlibdeps maps a program's libsilk.so.<SOVERSION> to this
# package. CPack has no per-component switch for it; the library package is the only one
# with shared objects (libsilk-dev keeps only the .so links, which are not ELF files).
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")

set(CPACK_DEBIAN_UNSPECIFIED_PACKAGE_NAME libsilk-dev)
set(CPACK_DEBIAN_UNSPECIFIED_PACKAGE_SECTION libdevel)
string(CONCAT CPACK_DEBIAN_UNSPECIFIED_DESCRIPTION
       "silk's headers, static libraries, silkc and protoc-gen-silk\n"
       " What a program built on silk needs: the headers, the static libraries, the CMake "
       "package config (find_package(silk), silk_generate()), pkg-config files, silk's "
       "protos, silkc and protoc-gen-silk.")
# What the headers include, the static libraries and the package config link, and silkc runs
# (protoc, protoc-c, the well-known types' protos); the library package at this very version.
string(JOIN ", " CPACK_DEBIAN_UNSPECIFIED_PACKAGE_DEPENDS
       "${silk_lib_package} (= ${silk_deb_version})" libprotobuf-c-dev libnng-dev libwslay-dev
       libev-dev libhttp-parser-dev libjansson-dev libssl-dev libhiredis-dev libjwt-dev
       protobuf-compiler protobuf-c-compiler libprotobuf-dev pkg-config)

set(CPACK_DEBIAN_SAMPLES_PACKAGE_NAME silk-samples)
set(CPACK_DEBIAN_SAMPLES_PACKAGE_SECTION net)
string(CONCAT CPACK_DEBIAN_SAMPLES_DESCRIPTION
       "silk's seed scenario: a service, a caller, a gateway and silk-ctl\n"
       " wstest-service, wstest-caller, and silk-gateway and silk-ctl with the "
       "wstest.WsTest service linked in (samples/wstest). They link silk statically.")
set(CPACK_DEBIAN_SAMPLES_PACKAGE_SUGGESTS silk-systemd)

set(CPACK_DEBIAN_SYSTEMD_PACKAGE_NAME silk-systemd)
set(CPACK_DEBIAN_SYSTEMD_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_SYSTEMD_PACKAGE_ARCHITECTURE all)
set(CPACK_DEBIAN_SYSTEMD_PACKAGE_DEPENDS systemd)
# postinst makes the system user silk the units run as (lib/sysusers.d/silk.conf).
set(CPACK_DEBIAN_SYSTEMD_PACKAGE_CONTROL_EXTRA ${PROJECT_SOURCE_DIR}/deploy/systemd/postinst)
set(CPACK_DEBIAN_SYSTEMD_PACKAGE_CONTROL_STRICT_PERMISSION ON)
string(CONCAT CPACK_DEBIAN_SYSTEMD_DESCRIPTION
       "systemd unit templates for silk services and gateways\n"
       " silk-service@.service and silk-gateway@.service run /usr/bin/NAME as the system "
       "user silk, with the environment in /etc/silk/NAME.env; example environment files "
       "are in /usr/share/doc/silk-systemd/examples.")

include(CPack)
