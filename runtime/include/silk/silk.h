/* silk.h - everything public in libsilk, for programs that want one include (silk/json.h,
 * silk/gateway.h and silk/ctl.h belong to libsilk_json, libsilk_gateway and libsilk_ctl). */
#ifndef SILK_SILK_H
#define SILK_SILK_H

#include <silk/status.h>
#include <silk/log.h>
#include <silk/ctx.h>
#include <silk/service.h>
#include <silk/interceptor.h>
#include <silk/server.h>
#include <silk/channel.h>
#include <silk/loop_channel.h>
#include <silk/registry.h>
#include <silk/ws.h>

#endif /* SILK_SILK_H */
