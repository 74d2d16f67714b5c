{
  # The CPU addon. Every kernel family is compiled once per ISA level (native/cpu/levels/<level>.cpp), each level in its
  # own static library with its own target flags (gyp has no per-file flags); the flags come from
  # native/cpu/isa_levels.json, which cmake/libblindsight.cmake reads too. native/cpu/isa.cpp picks a level at run time
  # from the CPU's features.
  "variables": {
    # 1 in the Linux prebuilds (scripts/prebuild.mjs sets BLINDSIGHT_GLIBC_FLOOR=1): libstdc++ linked statically and
    # glibc symbols pinned to versions glibc 2.28 has (native/compat/glibc_floor.c).
    "bs_glibc_floor": "<!(node -p \"process.env.BLINDSIGHT_GLIBC_FLOOR === '1' ? 1 : 0\")",
    "isa_flags_avx2": ["<!@(node -p \"require('./native/cpu/isa_levels.json').levels.find((l) => l.name === 'avx2').flags.gcc.join(' ')\")"],
    "isa_flags_avx512": ["<!@(node -p \"require('./native/cpu/isa_levels.json').levels.find((l) => l.name === 'avx512').flags.gcc.join(' ')\")"],
    "isa_flags_avx512bf16": ["<!@(node -p \"require('./native/cpu/isa_levels.json').levels.find((l) => l.name === 'avx512bf16').flags.gcc.join(' ')\")"],
    "isa_flags_neon": ["<!@(node -p \"require('./native/cpu/isa_levels.json').levels.find((l) => l.name === 'neon').flags.gcc.join(' ')\")"],
    "isa_flags_neonbf16": ["<!@(node -p \"require('./native/cpu/isa_levels.json').levels.find((l) => l.name === 'neonbf16').flags.gcc.join(' ')\")"],
    "isa_msvc_avx2": ["<!@(node -p \"require('./native/cpu/isa_levels.json').levels.find((l) => l.name === 'avx2').flags.msvc.join(' ')\")"],
    "isa_msvc_avx512": ["<!@(node -p \"require('./native/cpu/isa_levels.json').levels.find((l) => l.name === 'avx512').flags.msvc.join(' ')\")"],
    "isa_msvc_avx512bf16": ["<!@(node -p \"require('./native/cpu/isa_levels.json').levels.find((l) => l.name === 'avx512bf16').flags.msvc.join(' ')\")"],
    "isa_msvc_neon": ["<!@(node -p \"require('./native/cpu/isa_levels.json').levels.find((l) => l.name === 'neon').flags.msvc.join(' ')\")"],
    "isa_msvc_neonbf16": ["<!@(node -p \"require('./native/cpu/isa_levels.json').levels.find((l) => l.name === 'neonbf16').flags.msvc.join(' ')\")"]
  },
  "target_defaults": {
    "cflags_cc": ["-std=c++20", "-O3", "-fvisibility=hidden"],
    "cflags_cc!": ["-std=gnu++17", "-std=gnu++20", "-fno-exceptions"],
    "cflags!": ["-fno-exceptions"],
    "defines": ["NAPI_VERSION=8"],
    "xcode_settings": {
      "CLANG_CXX_LANGUAGE_STANDARD": "c++20",
      "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
      "OTHER_CPLUSPLUSFLAGS": ["-O3"]
    },
    "msvs_settings": { "VCCLCompilerTool": { "AdditionalOptions": ["/std:c++20", "/O2"], "ExceptionHandling": 1 } }
  },
  "targets": [
    {
      "target_name": "bs_level_generic",
      "type": "static_library",
      "sources": ["native/cpu/levels/generic.cpp"]
    },
    {
      "target_name": "bs_level_avx2",
      "type": "static_library",
      "conditions": [
        ["target_arch=='x64'", {
          "sources": ["native/cpu/levels/avx2.cpp"],
          "cflags_cc": ["<@(isa_flags_avx2)"],
          "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-O3", "<@(isa_flags_avx2)"] },
          "msvs_settings": { "VCCLCompilerTool": { "AdditionalOptions": ["<@(isa_msvc_avx2)"] } }
        }]
      ]
    },
    {
      "target_name": "bs_level_avx512",
      "type": "static_library",
      "conditions": [
        ["target_arch=='x64'", {
          "sources": ["native/cpu/levels/avx512.cpp"],
          "cflags_cc": ["<@(isa_flags_avx512)"],
          "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-O3", "<@(isa_flags_avx512)"] },
          "msvs_settings": { "VCCLCompilerTool": { "AdditionalOptions": ["<@(isa_msvc_avx512)"] } }
        }]
      ]
    },
    {
      "target_name": "bs_level_avx512bf16",
      "type": "static_library",
      "conditions": [
        ["target_arch=='x64'", {
          "sources": ["native/cpu/levels/avx512bf16.cpp"],
          "cflags_cc": ["<@(isa_flags_avx512bf16)"],
          "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-O3", "<@(isa_flags_avx512bf16)"] },
          "msvs_settings": { "VCCLCompilerTool": { "AdditionalOptions": ["<@(isa_msvc_avx512bf16)"] } }
        }]
      ]
    },
    {
      "target_name": "bs_level_neon",
      "type": "static_library",
      "conditions": [
        ["target_arch=='arm64' and OS!='win'", {
          "sources": ["native/cpu/levels/neon.cpp"],
          "cflags_cc": ["<@(isa_flags_neon)"],
          "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-O3", "<@(isa_flags_neon)"] }
        }]
      ]
    },
    {
      "target_name": "bs_level_neonbf16",
      "type": "static_library",
      "conditions": [
        ["target_arch=='arm64' and OS!='win'", {
          "sources": ["native/cpu/levels/neonbf16.cpp"],
          "cflags_cc": ["<@(isa_flags_neonbf16)"],
          "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-O3", "<@(isa_flags_neonbf16)"] }
        }]
      ]
    },
    {
      "target_name": "blindsight",
      "dependencies": [
        "bs_level_generic", "bs_level_avx2", "bs_level_avx512", "bs_level_avx512bf16", "bs_level_neon", "bs_level_neonbf16"
      ],
      "sources": [
        "native/core/layout.cpp",
        "native/core/call_ranges.cpp",
        "native/core/merge.cpp",
        "native/core/range_stats.cpp",
        "native/core/query_pieces.cpp",
        "native/core/plan.cpp",
        "native/cpu/cpu_features.cpp",
        "native/cpu/isa.cpp",
        "native/cpu/thread_pool.cpp",
        "native/cpu/work_order.cpp",
        "native/cpu/tile_masks.cpp",
        "native/cpu/packed_kv.cpp",
        "native/cpu/merge.cpp",
        "native/cpu/cpu_backend.cpp",
        "native/cpu/mass/attention_mass.cpp",
        "native/cpu/mass/calibrator.cpp",
        "native/addon/plan_object.cpp",
        "native/addon/kv_pack_object.cpp",
        "native/addon/tensor_memory.cpp",
        "native/addon/attention.cpp",
        "native/addon/attention_mass.cpp",
        "native/addon/merge.cpp",
        "native/addon/calibrator.cpp",
        "native/addon/addon.cpp"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NODE_ADDON_API_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "conditions": [
        ["OS=='linux' and bs_glibc_floor==1", {
          "sources": ["native/compat/glibc_floor.c"],
          "ldflags": [
            "-static-libstdc++",
            "-Wl,--wrap=pthread_create,--wrap=pthread_detach,--wrap=pthread_join,--wrap=pthread_once",
            "-Wl,--wrap=pthread_key_create,--wrap=__pthread_key_create,--wrap=pthread_key_delete",
            "-Wl,--wrap=pthread_getspecific,--wrap=pthread_setspecific,--wrap=pthread_mutex_trylock",
            "-Wl,--wrap=__libc_single_threaded,--wrap=arc4random",
            "-Wl,--wrap=exp,--wrap=exp2,--wrap=log,--wrap=log2,--wrap=pow"
          ]
        }]
      ]
    }
  ]
}
