/* service.c - reading generated service descriptors: methods by name, a request's business id. */
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

const char *silk_method_business_id(const silk_method_desc *method, const ProtobufCMessage *req)
{
    if (method == NULL || method->business_id_field == 0 || req == NULL ||
        req->descriptor != method->input)
        return NULL;
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(req->descriptor, method->business_id_field);
    if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING || f->label == PROTOBUF_C_LABEL_REPEATED)
        return NULL; /* a hand-made descriptor naming another field */
    const char *v = *(char *const *)((const char *)req + f->offset);
    return v != NULL && v[0] != '\0' ? v : NULL;
}
