# SilkGenerate.cmake - silk_generate(): compile .proto files into protobuf-c and silk C code.
#
#   silk_generate(TARGET target PROTOS a.proto ... [IMPORT_DIRS dir ...] [OUT_DIR dir])
#
# For each a.proto it runs protoc with protoc-c and protoc-gen-silk, writes a.pb-c.{c,h} and
# a.silk.{c,h} under OUT_DIR (default ${CMAKE_CURRENT_BINARY_DIR}/silk_gen), adds the .c files
# to the target's sources and OUT_DIR to its include path. A proto's path inside OUT_DIR is
# its path relative to the first import dir that holds it (its own folder by default), as
# protoc names it. silk's own protos and the well-known types are always importable.
#
# Inside silk's build the plugin is the protoc-gen-silk target; for an installed silk,
# silkConfig.cmake sets SILK_PROTOC_GEN_SILK and SILK_PROTO_DIR before including this file.

function(silk_generate)
  cmake_parse_arguments(SG "" "TARGET;OUT_DIR" "PROTOS;IMPORT_DIRS" ${ARGN})
  if(NOT SG_TARGET OR NOT SG_PROTOS)
    message(FATAL_ERROR "silk_generate: TARGET and PROTOS are required")
  endif()
  if(NOT SG_OUT_DIR)
    set(SG_OUT_DIR ${CMAKE_CURRENT_BINARY_DIR}/silk_gen)
  endif()
  if(SILK_PROTOC_GEN_SILK)
    set(plugin ${SILK_PROTOC_GEN_SILK})
    set(plugin_dep ${SILK_PROTOC_GEN_SILK})
  elseif(TARGET protoc-gen-silk)
    set(plugin $<TARGET_FILE:protoc-gen-silk>)
    set(plugin_dep protoc-gen-silk)
  else()
    message(FATAL_ERROR "silk_generate: no protoc-gen-silk; use find_package(silk), which sets "
                        "SILK_PROTOC_GEN_SILK and SILK_PROTO_DIR")
  endif()
  find_program(SILK_PROTOC protoc REQUIRED)
  find_path(SILK_WKT_DIR google/protobuf/empty.proto PATHS /usr/include REQUIRED)

  set(import_dirs)
  foreach(dir IN LISTS SG_IMPORT_DIRS)
    get_filename_component(dir ${dir} ABSOLUTE)
    list(APPEND import_dirs ${dir})
  endforeach()

  file(MAKE_DIRECTORY ${SG_OUT_DIR})
  set(sources)
  foreach(proto IN LISTS SG_PROTOS)
    get_filename_component(proto ${proto} ABSOLUTE)
    # Find the import dir that holds the proto; default to the proto's own folder.
    set(base "")
    foreach(dir IN LISTS import_dirs)
      string(FIND "${proto}" "${dir}/" at)
      if(at EQUAL 0 AND base STREQUAL "")
        set(base ${dir})
      endif()
    endforeach()
    if(base STREQUAL "")
      get_filename_component(base ${proto} DIRECTORY)
    endif()
    file(RELATIVE_PATH rel ${base} ${proto})
    string(REGEX REPLACE "\\.proto$" "" stem ${rel})
    set(outs ${SG_OUT_DIR}/${stem}.pb-c.c ${SG_OUT_DIR}/${stem}.pb-c.h
             ${SG_OUT_DIR}/${stem}.silk.c ${SG_OUT_DIR}/${stem}.silk.h)
    set(flags -I${base})
    foreach(dir IN LISTS import_dirs)
      list(APPEND flags -I${dir})
    endforeach()
    list(APPEND flags -I${SILK_PROTO_DIR} -I${SILK_WKT_DIR})
    list(REMOVE_DUPLICATES flags)
    add_custom_command(
      OUTPUT ${outs}
      COMMAND ${SILK_PROTOC} --plugin=protoc-gen-silk=${plugin} --c_out=${SG_OUT_DIR}
              --silk_out=${SG_OUT_DIR} --dependency_out=${SG_OUT_DIR}/${stem}.d ${flags} ${proto}
      DEPENDS ${proto} ${plugin_dep}
      # protoc lists the imports it read, so a change to an imported proto regenerates too.
      DEPFILE ${SG_OUT_DIR}/${stem}.d
      COMMENT "silk: generating C for ${rel}"
      VERBATIM)
    list(APPEND sources ${SG_OUT_DIR}/${stem}.pb-c.c ${SG_OUT_DIR}/${stem}.silk.c)
  endforeach()
  target_sources(${SG_TARGET} PRIVATE ${sources})
  # PUBLIC, so that a library of generated code hands its headers to whoever links it; the
  # folder is in the build tree, so an installed target exports nothing of it.
  target_include_directories(${SG_TARGET} PUBLIC $<BUILD_INTERFACE:${SG_OUT_DIR}>)
endfunction()
