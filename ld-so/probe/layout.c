/* Layout probe (design.md §3): compiled with `-S` by the target's own gcc against
 * one musl version's internal headers. It never runs; each PROBE line leaves a
 * marker `@@layout NAME VALUE@@` in the assembly that xtask turns into Rust
 * constants. Offsets of musl's private structures therefore come from the musl
 * being linked, never from memory. */
#include <stddef.h>
#include "pthread_impl.h"
#include "libc.h"
#include "dynlink.h"
#include <sys/stat.h>

#define PROBE(name, value) \
	__asm__ volatile("\n.ascii \"@@layout " #name " %0@@\"" : : "i"((long)(value)))

void stormless_layout_probe(void)
{
	PROBE(LIBC_SIZE, sizeof(struct __libc));
	PROBE(LIBC_CAN_DO_THREADS, offsetof(struct __libc, can_do_threads));
	PROBE(LIBC_THREADED, offsetof(struct __libc, threaded));
	PROBE(LIBC_SECURE, offsetof(struct __libc, secure));
	PROBE(LIBC_NEED_LOCKS, offsetof(struct __libc, need_locks));
	PROBE(LIBC_THREADS_MINUS_1, offsetof(struct __libc, threads_minus_1));
	PROBE(LIBC_AUXV, offsetof(struct __libc, auxv));
	PROBE(LIBC_TLS_HEAD, offsetof(struct __libc, tls_head));
	PROBE(LIBC_TLS_SIZE, offsetof(struct __libc, tls_size));
	PROBE(LIBC_TLS_ALIGN, offsetof(struct __libc, tls_align));
	PROBE(LIBC_TLS_CNT, offsetof(struct __libc, tls_cnt));
	PROBE(LIBC_PAGE_SIZE, offsetof(struct __libc, page_size));
	PROBE(LIBC_GLOBAL_LOCALE, offsetof(struct __libc, global_locale));

	PROBE(PTHREAD_MUTEX_T_SIZE, sizeof(pthread_mutex_t));
	PROBE(PTHREAD_RWLOCK_T_SIZE, sizeof(pthread_rwlock_t));
	PROBE(PTHREAD_COND_T_SIZE, sizeof(pthread_cond_t));

	PROBE(TLS_MODULE_SIZE, sizeof(struct tls_module));
	PROBE(TLS_MODULE_NEXT, offsetof(struct tls_module, next));
	PROBE(TLS_MODULE_IMAGE, offsetof(struct tls_module, image));
	PROBE(TLS_MODULE_LEN, offsetof(struct tls_module, len));
	PROBE(TLS_MODULE_SIZE_FIELD, offsetof(struct tls_module, size));
	PROBE(TLS_MODULE_ALIGN, offsetof(struct tls_module, align));
	PROBE(TLS_MODULE_OFFSET, offsetof(struct tls_module, offset));

	PROBE(PTHREAD_SIZE, sizeof(struct pthread));
	PROBE(PTHREAD_ALIGN, __alignof__(struct pthread));
	PROBE(PTHREAD_SELF, offsetof(struct pthread, self));
	PROBE(PTHREAD_SYSINFO, offsetof(struct pthread, sysinfo));
	PROBE(PTHREAD_DTV, offsetof(struct pthread, dtv));
	PROBE(PTHREAD_PREV, offsetof(struct pthread, prev));
	PROBE(PTHREAD_NEXT, offsetof(struct pthread, next));
	PROBE(PTHREAD_TID, offsetof(struct pthread, tid));
	PROBE(PTHREAD_DLERROR_BUF, offsetof(struct pthread, dlerror_buf));

#ifdef TLS_ABOVE_TP
	PROBE(TLS_ABOVE_TP, 1);
	PROBE(GAP_ABOVE_TP, GAP_ABOVE_TP);
#else
	PROBE(TLS_ABOVE_TP, 0);
	PROBE(GAP_ABOVE_TP, 0);
#endif
	PROBE(TP_OFFSET, TP_OFFSET);
	PROBE(DTP_OFFSET, DTP_OFFSET);
	PROBE(STAT_DEV, offsetof(struct stat, st_dev));
	PROBE(STAT_INO, offsetof(struct stat, st_ino));
	PROBE(STAT_SIZE, sizeof(struct stat));
	PROBE(STAT_ST_SIZE, offsetof(struct stat, st_size));
	PROBE(DYN_CNT, DYN_CNT);
	PROBE(AUX_CNT, AUX_CNT);
}
