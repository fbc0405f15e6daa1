# SilkPackageSplit.cmake - CPack's pre-build script: the shared libraries to their own package.
#
# Run by CPack (CPACK_PRE_BUILD_SCRIPTS, cmake/SilkPackage.cmake) once every component is
# staged under CPACK_TEMPORARY_DIRECTORY/<component>, before any package is made. silk's
# libraries install with no component (cmake/SilkLibrary.cmake), so the "Unspecified" stage
# (libsilk-dev) holds all of each library; this moves what a program needs at run time - the
# real file lib<name>.so.<VERSION> and the soname link lib<name>.so.<SOVERSION> - into the
# "libs" stage (libsilk<SOVERSION>), and leaves the lib<name>.so link and the archive behind.
# It fails the packaging when the stages are not where it expects or a library is missing.
set(dev ${CPACK_TEMPORARY_DIRECTORY}/Unspecified${CPACK_PACKAGING_INSTALL_PREFIX}/${CPACK_SILK_LIBDIR})
set(libs ${CPACK_TEMPORARY_DIRECTORY}/libs${CPACK_PACKAGING_INSTALL_PREFIX}/${CPACK_SILK_LIBDIR})
foreach(name IN LISTS CPACK_SILK_LIBRARIES)
  file(GLOB found LIST_DIRECTORIES false "${dev}/lib${name}.so.*")
  if(NOT found)
    message(FATAL_ERROR "SilkPackageSplit: no lib${name}.so.* in ${dev}")
  endif()
  file(MAKE_DIRECTORY ${libs})
  foreach(path IN LISTS found)
    get_filename_component(file ${path} NAME)
    file(RENAME ${path} ${libs}/${file})
  endforeach()
endforeach()
