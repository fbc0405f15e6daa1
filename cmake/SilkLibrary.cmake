# SilkLibrary.cmake - silk_library(): one of silk's libraries, static and shared, and its install.
#
#   add_library(silk_json STATIC src/a.c ...)    # more sources: target_sources(silk_json ...)
#   silk_library(silk_json EXPORT_NAME json INCLUDE_DIRS ${CMAKE_CURRENT_SOURCE_DIR}/include
#                [SILK_PUBLIC silk ...] [SILK_PRIVATE ...] [PUBLIC dep ...] [PRIVATE dep ...]
#                [OBJECTS obj ...])
#
# <name> stays the static library the tree links (tests, samples, benches), with its sources,
# compile options and private include dirs set by the caller as for any target. silk_library()
# adds <name>_shared, a SHARED library of the very same object files (compiled once, with PIC:
# $<TARGET_OBJECTS:<name>>, plus OBJECTS for objects <name> takes from elsewhere), named like
# the static one (lib<name>.so beside lib<name>.a). Both get INCLUDE_DIRS (and the install's
# include dir) as their public include path and link PUBLIC and PRIVATE; SILK_PUBLIC and
# SILK_PRIVATE are silk's own libraries this one builds on (public: its headers include
# theirs), <lib> for the static and <lib>_shared for the shared.
#
# Both are installed with the headers under INCLUDE_DIRS (*.h): the static one in the export
# set silkStaticTargets, the shared one in silkSharedTargets, each as silk::<EXPORT_NAME>;
# silkConfig.cmake loads one of the two (SILK_USE_STATIC_LIBS).
#
# Before 1.0 a minor version may break the API and the ABI, so the soname carries MAJOR.MINOR
# (libsilk.so.0.1: every 0.1.x may replace another, 0.2 is a new soname); from 1.0 on, MAJOR.
#
# Every non-static symbol is exported, the internal silk__* ones too: libsilk_json,
# libsilk_gateway and libsilk_ctl call libsilk's silk__random_hex, silk__utf8_* and silk__env_*
# across the shared-library boundary. silk__ symbols are not a stable ABI and not for users:
# any release may change or drop them, whatever the soname says.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(SILK_SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
else()
  set(SILK_SOVERSION ${PROJECT_VERSION_MAJOR})
endif()

function(silk_library name)
  cmake_parse_arguments(SL "" "EXPORT_NAME"
                        "INCLUDE_DIRS;SILK_PUBLIC;SILK_PRIVATE;PUBLIC;PRIVATE;OBJECTS" ${ARGN})
  if(NOT SL_EXPORT_NAME OR NOT SL_INCLUDE_DIRS)
    message(FATAL_ERROR "silk_library: EXPORT_NAME and INCLUDE_DIRS are required")
  endif()
  set(shared ${name}_shared)
  add_library(${shared} SHARED $<TARGET_OBJECTS:${name}> ${SL_OBJECTS})
  list(TRANSFORM SL_SILK_PUBLIC APPEND _shared OUTPUT_VARIABLE shared_public)
  list(TRANSFORM SL_SILK_PRIVATE APPEND _shared OUTPUT_VARIABLE shared_private)

  foreach(target ${name} ${shared})
    foreach(dir IN LISTS SL_INCLUDE_DIRS)
      target_include_directories(${target} PUBLIC $<BUILD_INTERFACE:${dir}>)
    endforeach()
    target_include_directories(${target} PUBLIC $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  endforeach()
  target_link_libraries(${name} PUBLIC ${SL_SILK_PUBLIC} ${SL_PUBLIC}
                                PRIVATE ${SL_SILK_PRIVATE} ${SL_PRIVATE})
  target_link_libraries(${shared} PUBLIC ${shared_public} ${SL_PUBLIC}
                                  PRIVATE ${shared_private} ${SL_PRIVATE})

  set_target_properties(${name} PROPERTIES POSITION_INDEPENDENT_CODE ON EXPORT_NAME ${SL_EXPORT_NAME})
  # $ORIGIN: a library finds the silk libraries it needs beside itself, wherever the install is.
  set_target_properties(${shared} PROPERTIES OUTPUT_NAME ${name} EXPORT_NAME ${SL_EXPORT_NAME}
                                             VERSION ${PROJECT_VERSION} SOVERSION ${SILK_SOVERSION}
                                             INSTALL_RPATH "$ORIGIN")
  # Every symbol the shared library uses must come from a library it names (NEEDED).
  target_link_options(${shared} PRIVATE LINKER:--no-undefined)

  install(TARGETS ${name} EXPORT silkStaticTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(TARGETS ${shared} EXPORT silkSharedTargets LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  foreach(dir IN LISTS SL_INCLUDE_DIRS)
    install(DIRECTORY ${dir}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.h")
  endforeach()
endfunction()
