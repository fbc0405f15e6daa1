# json_fuzz.cmake - the JSON -> protobuf driver (json_fuzz.c) on json/tests/json_test.proto,
# jansson the oracle of its syntax: json_fuzz_corpus replays json_corpus/ under ctest; with
# clang, `cmake --build . --target silk_json_fuzz` builds the libFuzzer binary
# (tests/silk_json_fuzz tests/fuzz/json_corpus -max_total_time=60 for a bounded run).
add_executable(json_fuzz_replay ${CMAKE_CURRENT_LIST_DIR}/replay.c ${CMAKE_CURRENT_LIST_DIR}/json_fuzz.c)
target_link_libraries(json_fuzz_replay PRIVATE silk_json_testproto silk_json PkgConfig::JANSSON)
set_target_properties(json_fuzz_replay PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
add_test(NAME json_fuzz_corpus COMMAND json_fuzz_replay ${CMAKE_CURRENT_LIST_DIR}/json_corpus)
set_tests_properties(json_fuzz_corpus PROPERTIES TIMEOUT 60 LABELS fuzz)

find_program(SILK_CLANG NAMES clang clang-16 clang-15 clang-14)
if(SILK_CLANG)
  set(json_fuzz_out ${CMAKE_BINARY_DIR}/tests/silk_json_fuzz)
  set(json_fuzz_gen ${CMAKE_BINARY_DIR}/json/tests/gen)
  set(json_fuzz_sources
      ${CMAKE_CURRENT_LIST_DIR}/json_fuzz.c ${CMAKE_SOURCE_DIR}/json/src/common.c
      ${CMAKE_SOURCE_DIR}/json/src/names.c ${CMAKE_SOURCE_DIR}/json/src/lex.c
      ${CMAKE_SOURCE_DIR}/json/src/syntax.c
      ${CMAKE_SOURCE_DIR}/json/src/decode.c ${CMAKE_SOURCE_DIR}/json/src/decode_scalar.c
      ${CMAKE_SOURCE_DIR}/json/src/encode.c ${CMAKE_SOURCE_DIR}/runtime/src/core/utf8.c
      ${json_fuzz_gen}/json_test.pb-c.c)
  foreach(wkt empty timestamp duration wrappers)
    list(APPEND json_fuzz_sources ${SILK_GEN_DIR}/google/protobuf/${wkt}.pb-c.c)
  endforeach()
  add_custom_command(OUTPUT ${json_fuzz_out}
                     COMMAND ${SILK_CLANG} -g -O1 -fsanitize=fuzzer,address,undefined
                             -I${CMAKE_SOURCE_DIR}/runtime/include -I${CMAKE_SOURCE_DIR}/runtime/src -I${CMAKE_SOURCE_DIR}/json/include -I${SILK_GEN_DIR} -I${json_fuzz_gen}
                             ${json_fuzz_sources} ${JANSSON_LDFLAGS} ${PROTOBUF_C_LDFLAGS} -lm
                             -o ${json_fuzz_out}
                     DEPENDS ${json_fuzz_sources} silk_json_testproto silk_proto
                     COMMENT "Building the JSON decoder's libFuzzer driver with clang" VERBATIM)
  add_custom_target(silk_json_fuzz DEPENDS ${json_fuzz_out})
endif()
