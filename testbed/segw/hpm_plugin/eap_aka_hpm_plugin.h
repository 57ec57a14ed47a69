/*
 * eap-aka-hpm: charon plugin registering an "aka-card" with libsimaka's
 * simaka_manager ("aka-manager", provided by the eap-aka plugin) whose
 * AKA computations are done by the femto's HPM over its control socket
 * (TS 33.320 7.2.3 hosting party authentication with EAP-AKA, RFC 4187).
 *
 * Modelled on strongSwan's eap-aka-3gpp plugin (card part).
 */

#ifndef EAP_AKA_HPM_PLUGIN_H_
#define EAP_AKA_HPM_PLUGIN_H_

#include <plugins/plugin.h>

typedef struct eap_aka_hpm_plugin_t eap_aka_hpm_plugin_t;

struct eap_aka_hpm_plugin_t {

	/** Implements plugin_t. */
	plugin_t plugin;
};

/** Constructor looked up by charon's plugin loader for "eap-aka-hpm". */
plugin_t *eap_aka_hpm_plugin_create(void);

#endif /* EAP_AKA_HPM_PLUGIN_H_ */
