/*
 * Client of the HPM (hosting party module, a software UICC) control socket,
 * for charon's eap-aka-hpm plugin.  Plain C, no strongSwan dependency, so it
 * can be unit-tested on its own (tests/unit/segw/test_hpm_plugin_client.py).
 *
 * Protocol (JSON lines over a Unix stream socket, one request -> one reply):
 *
 *   -> {"op":"authenticate","rand":"<32 hex>","autn":"<32 hex>"}
 *   <- {"ok":true,"res":"<hex>","ck":"<32 hex>","ik":"<32 hex>"}
 *    | {"ok":false,"error":"sync_failure","auts":"<28 hex>"}
 *    | {"ok":false,"error":"mac_failure"}
 *    | {"ok":false,"error":"no_card"}
 *
 * i.e. the USIM AUTHENTICATE command (TS 31.102 7.1.2, TS 33.102 6.3.3) that
 * the EAP-AKA peer needs to answer AKA-Challenge (RFC 4187 9.3/9.4) or to
 * send AKA-Synchronization-Failure (RFC 4187 9.6) in the femto's hosting
 * party authentication (TS 33.320 7.2.3).
 */

#ifndef HPM_CLIENT_H_
#define HPM_CLIENT_H_

#include <stddef.h>
#include <stdint.h>

#define HPM_RAND_LEN  16
#define HPM_AUTN_LEN  16
#define HPM_CK_LEN    16
#define HPM_IK_LEN    16
#define HPM_RES_MIN    4   /* RES is 32..128 bits (TS 33.102 6.3.2) */
#define HPM_RES_MAX   16
#define HPM_AUTS_LEN  14   /* SQN_MS xor AK* (6) || MAC-S (8), TS 33.102 6.3.3 */
#define HPM_MAX_LINE 4096  /* longer replies are refused */
#define HPM_REQUEST_LEN 128

typedef enum {
	HPM_OK = 0,        /* RES, CK, IK valid */
	HPM_SYNC_FAILURE,  /* SQN not fresh; AUTS valid */
	HPM_MAC_FAILURE,   /* AUTN's MAC did not verify: network not authentic */
	HPM_NO_CARD,       /* card removed */
	HPM_ERROR,         /* socket error, timeout, malformed or unknown reply */
} hpm_status_t;

typedef struct {
	uint8_t res[HPM_RES_MAX];
	size_t res_len;
	uint8_t ck[HPM_CK_LEN];
	uint8_t ik[HPM_IK_LEN];
	uint8_t auts[HPM_AUTS_LEN];
	/* why HPM_ERROR (or the HPM's own error text), printable ASCII, for logs;
	 * never holds key material */
	char reason[256];
} hpm_answer_t;

/** Write the authenticate request line (with '\n') to buf; returns its length, 0 if buf is too small. */
size_t hpm_format_authenticate(char *buf, size_t len, const uint8_t rand[HPM_RAND_LEN],
							   const uint8_t autn[HPM_AUTN_LEN]);

/** Parse one reply line (trailing whitespace allowed). Never reads past line+len. */
hpm_status_t hpm_parse_authenticate(const char *line, size_t len, hpm_answer_t *out);

/**
 * Send the authenticate request to the HPM at socket_path and parse the reply.
 * Blocking, bounded by timeout_ms for the whole exchange.  Paths longer than
 * sun_path are reached through /proc/self/fd/<dir fd>/<name>.
 */
hpm_status_t hpm_authenticate(const char *socket_path, int timeout_ms,
							  const uint8_t rand[HPM_RAND_LEN], const uint8_t autn[HPM_AUTN_LEN],
							  hpm_answer_t *out);

/** Overwrite RES/CK/IK/AUTS in an answer. */
void hpm_answer_wipe(hpm_answer_t *answer);

#endif /* HPM_CLIENT_H_ */
