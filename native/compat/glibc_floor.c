/*
 * Linked into the Linux prebuilds only (binding.gyp, bs_glibc_floor=1, set by scripts/prebuild.mjs), so that a binary
 * built on a new distribution loads on glibc 2.28 (Node 20's own floor: Debian 10, Ubuntu 20.04, RHEL 8, Amazon Linux
 * 2023). libstdc++ and its exception support are linked statically (-static-libstdc++), so the system's libstdc++ may
 * be any version; what remains are the glibc symbols whose default version on the build machine is newer than 2.28.
 * The linker's --wrap sends every reference to them, in this code and in the static libstdc++ alike, to the
 * __wrap_ functions below, which call the same function at the version it has had since the architecture's first
 * glibc (the build machine's glibc still exports that version). test/e2e/glibc_floor.test.ts reads the binaries'
 * symbol versions and fails on anything newer than 2.28.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/random.h>

#if defined(__x86_64__)
#define BS_GLIBC_FIRST "GLIBC_2.2.5"
#elif defined(__aarch64__)
#define BS_GLIBC_FIRST "GLIBC_2.17"
#else
#error "glibc_floor.c knows the first glibc version of x86-64 and AArch64 only"
#endif

#define BS_HIDDEN __attribute__((visibility("hidden")))
#define BS_OLD(name) __asm__(".symver bs_old_" #name ", " #name "@" BS_GLIBC_FIRST);

/* libpthread's functions moved into libc in glibc 2.34, with new default versions; the old ones still resolve there,
   and in libpthread.so.0 on older systems. */
BS_OLD(pthread_create)
BS_OLD(pthread_detach)
BS_OLD(pthread_join)
BS_OLD(pthread_once)
BS_OLD(pthread_key_create)
BS_OLD(pthread_key_delete)
BS_OLD(pthread_getspecific)
BS_OLD(pthread_setspecific)
BS_OLD(pthread_mutex_trylock)

int bs_old_pthread_create(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);
int bs_old_pthread_detach(pthread_t);
int bs_old_pthread_join(pthread_t, void**);
int bs_old_pthread_once(pthread_once_t*, void (*)(void));
int bs_old_pthread_key_create(pthread_key_t*, void (*)(void*));
int bs_old_pthread_key_delete(pthread_key_t);
void* bs_old_pthread_getspecific(pthread_key_t);
int bs_old_pthread_setspecific(pthread_key_t, const void*);
int bs_old_pthread_mutex_trylock(pthread_mutex_t*);

BS_HIDDEN int __wrap_pthread_create(pthread_t* t, const pthread_attr_t* a, void* (*f)(void*), void* arg) {
  return bs_old_pthread_create(t, a, f, arg);
}
BS_HIDDEN int __wrap_pthread_detach(pthread_t t) { return bs_old_pthread_detach(t); }
BS_HIDDEN int __wrap_pthread_join(pthread_t t, void** r) { return bs_old_pthread_join(t, r); }
BS_HIDDEN int __wrap_pthread_once(pthread_once_t* o, void (*f)(void)) { return bs_old_pthread_once(o, f); }
BS_HIDDEN int __wrap_pthread_key_create(pthread_key_t* k, void (*d)(void*)) { return bs_old_pthread_key_create(k, d); }
BS_HIDDEN int __wrap___pthread_key_create(pthread_key_t* k, void (*d)(void*)) { return bs_old_pthread_key_create(k, d); }
BS_HIDDEN int __wrap_pthread_key_delete(pthread_key_t k) { return bs_old_pthread_key_delete(k); }
BS_HIDDEN void* __wrap_pthread_getspecific(pthread_key_t k) { return bs_old_pthread_getspecific(k); }
BS_HIDDEN int __wrap_pthread_setspecific(pthread_key_t k, const void* v) { return bs_old_pthread_setspecific(k, v); }
BS_HIDDEN int __wrap_pthread_mutex_trylock(pthread_mutex_t* m) { return bs_old_pthread_mutex_trylock(m); }

/* glibc 2.29 gave exp, exp2, log, log2 and pow new default versions (the same functions without the SVID error
   handling); the old versions are still exported and compute the same values. The double-precision ones are used by
   the calibration statistics; all five are pinned so that a new use cannot raise the floor. */
BS_OLD(exp)
BS_OLD(exp2)
BS_OLD(log)
BS_OLD(log2)
BS_OLD(pow)

double bs_old_exp(double);
double bs_old_exp2(double);
double bs_old_log(double);
double bs_old_log2(double);
double bs_old_pow(double, double);

BS_HIDDEN double __wrap_exp(double x) { return bs_old_exp(x); }
BS_HIDDEN double __wrap_exp2(double x) { return bs_old_exp2(x); }
BS_HIDDEN double __wrap_log(double x) { return bs_old_log(x); }
BS_HIDDEN double __wrap_log2(double x) { return bs_old_log2(x); }
BS_HIDDEN double __wrap_pow(double x, double y) { return bs_old_pow(x, y); }

/* glibc 2.32's flag that lets libstdc++ skip atomic reference counts in single-threaded processes. 0 = "maybe
   threaded": the counts are always atomic, which is what libstdc++ does when the C library lacks the flag. */
BS_HIDDEN char __wrap___libc_single_threaded = 0;

/* glibc 2.36's arc4random, which the static libstdc++'s std::random_device refers to (this code never makes one):
   the same bytes from getrandom (glibc 2.25). */
BS_HIDDEN uint32_t __wrap_arc4random(void) {
  uint32_t x = 0;
  size_t got = 0;
  while (got < sizeof x) {
    const ssize_t n = getrandom((char*)&x + got, sizeof x - got, 0);
    if (n > 0) got += (size_t)n;
    else if (errno != EINTR) break;
  }
  return x;
}
