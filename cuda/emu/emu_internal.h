/* emu_internal.h - shared between the emulator's stand-ins (cuda/emu/). */
#ifndef SEQ_EMU_INTERNAL_H
#define SEQ_EMU_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* true when [p, p+nbytes) lies inside one live device allocation */
bool seq_emu_is_device(const void *p, size_t nbytes);
/* Same, for a library call touching that range: otherwise records a sticky
 * illegal-address error (as a GPU would), names the call on stderr and
 * returns false. */
bool seq_emu_check_device(const char *call, const char *what, const void *p, size_t nbytes);
void seq_emu_fault(const char *fmt, ...);
bool seq_emu_faulted(void);

#ifdef __cplusplus
}
#endif

#endif
