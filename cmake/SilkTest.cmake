# SilkTest.cmake - one helper to register every test executable with ctest, with a timeout.
find_package(PkgConfig REQUIRED)
pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)

# silk_unit_test(NAME SOURCES... LIBS... [TIMEOUT s]) builds a cmocka test and registers it.
function(silk_unit_test name)
  cmake_parse_arguments(UT "" "TIMEOUT" "SOURCES;LIBS" ${ARGN})
  if(NOT UT_TIMEOUT)
    set(UT_TIMEOUT 60)
  endif()
  add_executable(${name} ${UT_SOURCES})
  target_link_libraries(${name} PRIVATE PkgConfig::CMOCKA ${UT_LIBS})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES TIMEOUT ${UT_TIMEOUT} LABELS unit)
endfunction()
