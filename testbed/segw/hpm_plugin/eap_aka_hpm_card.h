/*
 * simaka_card_t backed by the femto's HPM (hosting party module): the
 * EAP-AKA peer of charon (eap-aka plugin) asks the card for RES/CK/IK
 * (get_quintuplet) and for AUTS (resync); this card forwards RAND/AUTN to the
 * HPM's control socket, i.e. the USIM AUTHENTICATE of TS 31.102 7.1.2.
 *
 * Used for the femto's hosting party authentication, the EAP-AKA round that
 * follows the device certificate round in IKEv2 (TS 33.320 7.2.3, RFC 4739
 * multiple authentication, EAP-AKA per RFC 4187).
 */

#ifndef EAP_AKA_HPM_CARD_H_
#define EAP_AKA_HPM_CARD_H_

#include <simaka_card.h>

typedef struct eap_aka_hpm_card_t eap_aka_hpm_card_t;

struct eap_aka_hpm_card_t {

	/** Implements simaka_card_t (get_quintuplet and resync only). */
	simaka_card_t card;

	/** Destroy the card. */
	void (*destroy)(eap_aka_hpm_card_t *this);
};

/**
 * Create the card; reads <ns>.plugins.eap-aka-hpm.socket (HPM control socket)
 * and <ns>.plugins.eap-aka-hpm.timeout_ms (default 2000) from strongswan.conf.
 */
eap_aka_hpm_card_t *eap_aka_hpm_card_create(void);

#endif /* EAP_AKA_HPM_CARD_H_ */
