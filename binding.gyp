{
  # The CPU addon. The kernel is compiled once per ISA level, each in its own static library with its own target
  # flags (gyp has no per-file flags); cpu_backend.cpp picks one at run time from the CPU's features.
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
      "target_name": "bs_kernel_generic",
      "type": "static_library",
      "sources": ["native/cpu/kernel_generic.cpp"]
    },
    {
      "target_name": "bs_kernel_avx2",
      "type": "static_library",
      "conditions": [
        ["target_arch=='x64' and OS!='win'", {
          "sources": ["native/cpu/kernel_avx2.cpp"],
          "cflags_cc": ["-mavx2", "-mfma", "-mf16c"],
          "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-O3", "-mavx2", "-mfma", "-mf16c"] }
        }]
      ]
    },
    {
      "target_name": "bs_kernel_avx512",
      "type": "static_library",
      "conditions": [
        ["target_arch=='x64' and OS!='win'", {
          "sources": ["native/cpu/kernel_avx512.cpp"],
          "cflags_cc": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mavx2", "-mfma", "-mf16c",
                        "-mprefer-vector-width=512", "-Wno-maybe-uninitialized"],
          "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-O3", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq",
                                                       "-mavx2", "-mfma", "-mf16c", "-mprefer-vector-width=512"] }
        }]
      ]
    },
    {
      "target_name": "bs_mass_generic",
      "type": "static_library",
      "sources": ["native/cpu/mass_generic.cpp"]
    },
    {
      "target_name": "bs_mass_avx2",
      "type": "static_library",
      "conditions": [
        ["target_arch=='x64' and OS!='win'", {
          "sources": ["native/cpu/mass_avx2.cpp"],
          "cflags_cc": ["-mavx2", "-mfma", "-mf16c"],
          "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-O3", "-mavx2", "-mfma", "-mf16c"] }
        }]
      ]
    },
    {
      "target_name": "bs_mass_avx512",
      "type": "static_library",
      "conditions": [
        ["target_arch=='x64' and OS!='win'", {
          "sources": ["native/cpu/mass_avx512.cpp"],
          "cflags_cc": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mavx2", "-mfma", "-mf16c",
                        "-mprefer-vector-width=512"],
          "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-O3", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq",
                                                       "-mavx2", "-mfma", "-mf16c", "-mprefer-vector-width=512"] }
        }]
      ]
    },
    {
      "target_name": "bs_kernel_avx512bf16",
      "type": "static_library",
      "conditions": [
        ["target_arch=='x64' and OS!='win'", {
          "sources": ["native/cpu/kernel_avx512bf16.cpp"],
          "cflags_cc": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mavx512bf16", "-mavx2", "-mfma",
                        "-mf16c", "-mprefer-vector-width=512", "-Wno-maybe-uninitialized"],
          "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-O3", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq",
                                                       "-mavx512bf16", "-mavx2", "-mfma", "-mf16c",
                                                       "-mprefer-vector-width=512"] }
        }]
      ]
    },
    {
      "target_name": "blindsight",
      "dependencies": ["bs_kernel_generic", "bs_kernel_avx2", "bs_kernel_avx512", "bs_kernel_avx512bf16",
                       "bs_mass_generic", "bs_mass_avx2", "bs_mass_avx512"],
      "sources": [
        "native/core/layout.cpp",
        "native/core/plan.cpp",
        "native/cpu/thread_pool.cpp",
        "native/cpu/work_order.cpp",
        "native/cpu/tile_masks.cpp",
        "native/cpu/cpu_backend.cpp",
        "native/cpu/attention_mass.cpp",
        "native/addon/plan_object.cpp",
        "native/addon/attention.cpp",
        "native/addon/attention_mass.cpp",
        "native/addon/addon.cpp"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NODE_ADDON_API_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"]
    }
  ]
}
