/* service.c - looking up methods in generated service descriptors. */
#include <string.h>

#include <silk/service.h>

const silk_method_desc *silk_service_find_method(const silk_service_desc *desc, const char *name)
{
    if (desc == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < desc->n_methods; i++) {
        if (strcmp(desc->methods[i].name, name) == 0)
            return &desc->methods[i];
    }
    return NULL;
}
