/*
 * eap-aka-hpm plugin: registers the HPM-backed "aka-card" (see
 * eap_aka_hpm_card.h) with libsimaka's manager, like eap-aka-3gpp registers
 * its software USIM.  Load it together with eap-aka (which provides the
 * "aka-manager" and the EAP-AKA peer, RFC 4187) for the femto's hosting
 * party authentication (TS 33.320 7.2.3).
 */

#include "eap_aka_hpm_plugin.h"
#include "eap_aka_hpm_card.h"

#include <daemon.h>
#include <simaka_manager.h>

typedef struct private_eap_aka_hpm_plugin_t private_eap_aka_hpm_plugin_t;

struct private_eap_aka_hpm_plugin_t {

	/** Public interface. */
	eap_aka_hpm_plugin_t public;

	/** The card, created when the "aka-card" feature is registered. */
	eap_aka_hpm_card_t *card;
};

METHOD(plugin_t, get_name, char*,
	private_eap_aka_hpm_plugin_t *this)
{
	return "eap-aka-hpm";
}

/**
 * Create/destroy the card (reads the socket setting at load time).
 */
static bool register_card(private_eap_aka_hpm_plugin_t *this,
						  plugin_feature_t *feature, bool reg, void *data)
{
	if (reg)
	{
		this->card = eap_aka_hpm_card_create();
		return this->card != NULL;
	}
	if (this->card)
	{
		this->card->destroy(this->card);
		this->card = NULL;
	}
	return TRUE;
}

/**
 * Callback handing our card to simaka_manager_register().
 */
static simaka_card_t* get_card(private_eap_aka_hpm_plugin_t *this)
{
	return &this->card->card;
}

METHOD(plugin_t, get_features, int,
	private_eap_aka_hpm_plugin_t *this, plugin_feature_t *features[])
{
	static plugin_feature_t f[] = {
		PLUGIN_CALLBACK((void*)register_card, NULL),
			PLUGIN_PROVIDE(CUSTOM, "eap-aka-hpm-card"),
		PLUGIN_CALLBACK(simaka_manager_register, get_card),
			PLUGIN_PROVIDE(CUSTOM, "aka-card"),
				PLUGIN_DEPENDS(CUSTOM, "aka-manager"),
				PLUGIN_DEPENDS(CUSTOM, "eap-aka-hpm-card"),
	};
	*features = f;
	return countof(f);
}

METHOD(plugin_t, destroy, void,
	private_eap_aka_hpm_plugin_t *this)
{
	free(this);
}

/*
 * See header.  The only symbol exported (the build uses -fvisibility=hidden).
 */
__attribute__((visibility("default")))
plugin_t *eap_aka_hpm_plugin_create(void)
{
	private_eap_aka_hpm_plugin_t *this;

	INIT(this,
		.public = {
			.plugin = {
				.get_name = _get_name,
				.get_features = _get_features,
				.destroy = _destroy,
			},
		},
	);

	return &this->public.plugin;
}
