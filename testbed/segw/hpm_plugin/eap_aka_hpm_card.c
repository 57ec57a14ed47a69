/*
 * EAP-AKA card answered by the HPM (see eap_aka_hpm_card.h).
 *
 * get_quintuplet() (RFC 4187 9.3 AKA-Challenge, peer side): RAND and AUTN go
 * to the HPM, which runs the USIM's AUTHENTICATE (TS 33.102 6.3.3: verify
 * MAC-A, check SQN freshness, compute RES/CK/IK) and answers
 *   - RES, CK, IK           -> SUCCESS (the peer derives MK from IK|CK, RFC 4187 7)
 *   - sync_failure + AUTS   -> INVALID_STATE; the AUTS is kept for the resync()
 *                              call that follows, and the peer sends
 *                              AKA-Synchronization-Failure (RFC 4187 9.6)
 *   - mac_failure, no_card  -> FAILED; the peer sends AKA-Authentication-Reject
 *                              (RFC 4187 9.5, 6.3.1)
 *   - anything else (socket error, timeout, malformed reply) -> FAILED
 * Every non-success is logged with DBG1 and a reason.  RES, CK, IK and AUTS
 * are never logged.
 */

#include "eap_aka_hpm_card.h"
#include "hpm_client.h"

#include <daemon.h>
#include <threading/mutex.h>

typedef struct private_eap_aka_hpm_card_t private_eap_aka_hpm_card_t;

struct private_eap_aka_hpm_card_t {

	/** Public interface. */
	eap_aka_hpm_card_t public;

	/** HPM control socket path (NULL: not configured). */
	char *socket;

	/** Timeout of one HPM exchange, in ms. */
	int timeout_ms;

	/** Protects the pending AUTS. */
	mutex_t *mutex;

	/** An AUTS from the HPM is waiting for resync(). */
	bool auts_pending;

	/** RAND the pending AUTS belongs to. */
	uint8_t auts_rand[AKA_RAND_LEN];

	/** The pending AUTS (SQN_MS xor AK* || MAC-S, TS 33.102 6.3.3). */
	uint8_t auts[AKA_AUTS_LEN];
};

METHOD(simaka_card_t, get_quintuplet, status_t,
	private_eap_aka_hpm_card_t *this, identification_t *id,
	char rand[AKA_RAND_LEN], char autn[AKA_AUTN_LEN], char ck[AKA_CK_LEN],
	char ik[AKA_IK_LEN], char res[AKA_RES_MAX], int *res_len)
{
	hpm_answer_t answer;
	hpm_status_t status;

	if (!this->socket)
	{
		DBG1(DBG_IKE, "eap-aka-hpm: no HPM socket configured "
			 "(%s.plugins.eap-aka-hpm.socket), cannot answer AKA for '%Y'",
			 lib->ns, id);
		return FAILED;
	}
	status = hpm_authenticate(this->socket, this->timeout_ms, (uint8_t*)rand,
							  (uint8_t*)autn, &answer);
	switch (status)
	{
		case HPM_OK:
			memcpy(res, answer.res, answer.res_len);
			*res_len = answer.res_len;
			memcpy(ck, answer.ck, AKA_CK_LEN);
			memcpy(ik, answer.ik, AKA_IK_LEN);
			hpm_answer_wipe(&answer);
			DBG1(DBG_IKE, "eap-aka-hpm: HPM verified AUTN and computed RES/CK/IK "
				 "for '%Y'", id);
			return SUCCESS;
		case HPM_SYNC_FAILURE:
			this->mutex->lock(this->mutex);
			memcpy(this->auts_rand, rand, AKA_RAND_LEN);
			memcpy(this->auts, answer.auts, AKA_AUTS_LEN);
			this->auts_pending = TRUE;
			this->mutex->unlock(this->mutex);
			hpm_answer_wipe(&answer);
			DBG1(DBG_IKE, "eap-aka-hpm: HPM reports a synchronisation failure "
				 "(SQN not fresh, TS 33.102 6.3.3) for '%Y', AUTS kept for resync",
				 id);
			return INVALID_STATE;
		case HPM_MAC_FAILURE:
			DBG1(DBG_IKE, "eap-aka-hpm: HPM rejected AUTN: MAC failure, network "
				 "not authentic (TS 33.102 6.3.3) for '%Y'", id);
			return FAILED;
		case HPM_NO_CARD:
			DBG1(DBG_IKE, "eap-aka-hpm: HPM has no card inserted, cannot answer "
				 "AKA for '%Y'", id);
			return FAILED;
		case HPM_ERROR:
		default:
			DBG1(DBG_IKE, "eap-aka-hpm: HPM at %s unusable: %s", this->socket,
				 answer.reason);
			return FAILED;
	}
}

METHOD(simaka_card_t, resync, bool,
	private_eap_aka_hpm_card_t *this, identification_t *id,
	char rand[AKA_RAND_LEN], char auts[AKA_AUTS_LEN])
{
	bool found = FALSE;

	this->mutex->lock(this->mutex);
	if (this->auts_pending && memeq(this->auts_rand, rand, AKA_RAND_LEN))
	{
		memcpy(auts, this->auts, AKA_AUTS_LEN);
		memwipe(this->auts, AKA_AUTS_LEN);
		this->auts_pending = FALSE;
		found = TRUE;
	}
	this->mutex->unlock(this->mutex);
	if (!found)
	{
		DBG1(DBG_IKE, "eap-aka-hpm: no AUTS from the HPM for this RAND, cannot "
			 "resynchronise '%Y'", id);
	}
	return found;
}

METHOD(eap_aka_hpm_card_t, destroy, void,
	private_eap_aka_hpm_card_t *this)
{
	memwipe(this->auts, AKA_AUTS_LEN);
	this->mutex->destroy(this->mutex);
	free(this->socket);
	free(this);
}

/*
 * See header
 */
eap_aka_hpm_card_t *eap_aka_hpm_card_create(void)
{
	private_eap_aka_hpm_card_t *this;
	char *socket;

	socket = lib->settings->get_str(lib->settings,
								"%s.plugins.eap-aka-hpm.socket", NULL, lib->ns);
	INIT(this,
		.public = {
			.card = {
				.get_triplet = (void*)return_false,
				.get_quintuplet = _get_quintuplet,
				.resync = _resync,
				.get_pseudonym = (void*)return_null,
				.set_pseudonym = (void*)nop,
				.get_reauth = (void*)return_null,
				.set_reauth = (void*)nop,
			},
			.destroy = _destroy,
		},
		.socket = (socket && *socket) ? strdup(socket) : NULL,
		.timeout_ms = lib->settings->get_int(lib->settings,
								"%s.plugins.eap-aka-hpm.timeout_ms", 2000, lib->ns),
		.mutex = mutex_create(MUTEX_TYPE_DEFAULT),
	);
	if (this->timeout_ms <= 0)
	{
		this->timeout_ms = 2000;
	}
	if (this->socket)
	{
		DBG1(DBG_CFG, "eap-aka-hpm: AKA card backed by the HPM at %s "
			 "(timeout %d ms)", this->socket, this->timeout_ms);
	}
	else
	{
		DBG1(DBG_CFG, "eap-aka-hpm: %s.plugins.eap-aka-hpm.socket not set, "
			 "EAP-AKA with the HPM will fail", lib->ns);
	}
	return &this->public;
}
