import { describe, expect, it } from 'vitest';
import { buildPrerequisites, loadFailureMessage } from '../../dist/core/native.js';

// The loader's advice for failures that cannot be staged on this machine (test/e2e/install.test.ts stages the others).
describe('native loader failure message', () => {
  const coded = (message: string, code: string) => Object.assign(new Error(message), { code });

  it('an older C library than the prebuild needs: update the OS or build from source', () => {
    const m = loadFailureMessage(coded("/lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.38' not found", 'ERR_DLOPEN_FAILED'), '/x/prebuilds/linux-x64/blindsight.node');
    expect(m).toContain('While loading: /x/prebuilds/linux-x64/blindsight.node');
    expect(m).toContain("Reason: ERR_DLOPEN_FAILED: /lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.38' not found");
    expect(m).toContain('needs a newer C or C++ runtime library');
    expect(m).toContain('npm rebuild blindsight --build-from-source');
  });

  it('addons switched off', () => {
    const m = loadFailureMessage(coded('Cannot load native addon because loading addons is disabled.', 'ERR_DLOPEN_DISABLED'), '/x/build/Release/blindsight.node');
    expect(m).toContain('without the --no-addons flag');
    expect(m).not.toContain('--build-from-source');
  });

  it('another architecture', () => {
    const m = loadFailureMessage(coded('/x/blindsight.node: invalid ELF header', 'ERR_DLOPEN_FAILED'), '/x/blindsight.node');
    expect(m).toContain('built for another platform or architecture');
  });

  it('says what a source build needs on each platform', () => {
    expect(buildPrerequisites('linux')).toContain('C++20 compiler');
    expect(buildPrerequisites('darwin')).toContain('xcode-select --install');
    expect(buildPrerequisites('win32')).toContain('Visual Studio 2022');
    const m = loadFailureMessage(new Error('No native build was found'), undefined);
    expect(m).toContain(`- Build it from source (needs ${buildPrerequisites(process.platform)}):`);
  });

  it('names the platform and Node-API version it looked for', () => {
    const m = loadFailureMessage(new Error('No native build was found for platform=linux'), undefined);
    expect(m).toContain(`for ${process.platform}-${process.arch} (Node ${process.version}, Node-API ${process.versions.napi}`);
    expect(m).toContain('Possible solutions:');
  });
});
