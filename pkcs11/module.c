/* Each PKCS#11 module is loaded and initialised once per process and
 * shared by reference count; modules are loaded by path (only that one). */
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/p11-kit.h>

#include "bridge.h"
#include "mtls/err.h"

static pthread_mutex_t modules_mu = PTHREAD_MUTEX_INITIALIZER;
static struct p11_module *modules;
static struct {
	char path[256];
	CK_FUNCTION_LIST *fl;
} fake;

void module_set_fake(const char *path, CK_FUNCTION_LIST *fl)
{
	pthread_mutex_lock(&modules_mu);
	snprintf(fake.path, sizeof(fake.path), "%s", path != NULL ? path : "");
	fake.fl = fl;
	pthread_mutex_unlock(&modules_mu);
}

int module_path(P11KitUri *uri, char *out, size_t outlen)
{
	const char *path = p11_kit_uri_get_module_path(uri);
	const char *name = p11_kit_uri_get_module_name(uri);

	if (path != NULL && name != NULL)
		return mtls_err_set(
			MTLS_ERR_URI, "PKCS#11 URI has both module-path and module-name; keep one");
	char resolved[PATH_MAX];
	int rc;

	if (path != NULL) {
		if (strlen(path) >= outlen)
			return mtls_err_set(MTLS_ERR_URI, "module-path is too long");
		strcpy(out, path);
	} else if (name != NULL) {
		rc = modcfg_resolve(name, out, outlen);
		if (rc != 0)
			return rc;
	}
	if (path != NULL || name != NULL) {
		/* One entry per library, however it was named (symlinks). */
		if (realpath(out, resolved) != NULL && strlen(resolved) < outlen)
			strcpy(out, resolved);
		return 0;
	}
	return mtls_err_set(MTLS_ERR_URI,
		"PKCS#11 URI names no module: add ?module-path=/path/to/module.so or "
		"?module-name=NAME (a p11-kit registered module such as softhsm2)");
}

static int module_init(struct p11_module *mod)
{
	CK_C_INITIALIZE_ARGS args;
	CK_RV rv;

	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	rv = mod->fl->C_Initialize(&args);
	if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		mod->finalize = 0; /* someone else in this process owns it */
		return 0;
	}
	if (rv != CKR_OK)
		return mtls_err_set(MTLS_ERR_MODULE, "C_Initialize of %s: %s (0x%lx)", mod->path,
			p11_rv_name(rv), (unsigned long)rv);
	mod->finalize = 1;
	return 0;
}

static int module_load(const char *path, struct p11_module **out)
{
	struct p11_module *mod = calloc(1, sizeof(*mod));
	int rc;

	if (mod == NULL)
		return MTLS_ERR_NOMEM;
	mod->path = strdup(path);
	if (mod->path == NULL) {
		free(mod);
		return MTLS_ERR_NOMEM;
	}
	if (fake.fl != NULL && strcmp(fake.path, path) == 0) {
		mod->fl = fake.fl;
		mod->fake = 1;
	} else {
		mod->fl = p11_kit_module_load(path, P11_KIT_MODULE_UNMANAGED);
		if (mod->fl == NULL) {
			rc = mtls_err_set(MTLS_ERR_MODULE,
				"cannot load PKCS#11 module %s: %s; check the path and that the "
				"package providing it is installed",
				path, p11_kit_message() ? p11_kit_message() : "unknown reason");
			goto fail;
		}
	}
	rc = module_init(mod);
	if (rc != 0)
		goto fail;
	mod->refs = 1;
	*out = mod;
	return 0;
fail:
	if (mod->fl != NULL && !mod->fake)
		p11_kit_module_release(mod->fl);
	free(mod->path);
	free(mod);
	return rc;
}

int module_acquire(P11KitUri *uri, struct p11_module **out)
{
	char path[1024];
	struct p11_module *mod;
	int rc;

	*out = NULL;
	rc = module_path(uri, path, sizeof(path));
	if (rc != 0)
		return rc;
	pthread_mutex_lock(&modules_mu);
	for (mod = modules; mod != NULL; mod = mod->next)
		if (strcmp(mod->path, path) == 0)
			break;
	if (mod != NULL) {
		mod->refs++;
		rc = 0;
	} else {
		rc = module_load(path, &mod);
		if (rc == 0) {
			mod->next = modules;
			modules = mod;
		}
	}
	pthread_mutex_unlock(&modules_mu);
	if (rc == 0)
		*out = mod;
	return rc;
}

void module_release(struct p11_module *mod)
{
	struct p11_module **pp;

	if (mod == NULL)
		return;
	pthread_mutex_lock(&modules_mu);
	if (--mod->refs > 0) {
		pthread_mutex_unlock(&modules_mu);
		return;
	}
	for (pp = &modules; *pp != NULL; pp = &(*pp)->next)
		if (*pp == mod) {
			*pp = mod->next;
			break;
		}
	pthread_mutex_unlock(&modules_mu);
	if (mod->finalize)
		(void)mod->fl->C_Finalize(NULL);
	if (!mod->fake)
		p11_kit_module_release(mod->fl);
	free(mod->path);
	free(mod);
}
