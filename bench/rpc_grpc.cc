// rpc_grpc.cc - bench-rpc-grpc: unary echo through gRPC C++ (Debian's libgrpc++) over tcp.
//
// Two servers, each its own child process: the sync server (a handler on gRPC's thread
// pool) and the callback server (a handler with the default reactor). The client measures
// latency with the blocking stub and throughput with calls kept in flight on one channel,
// driven through a CompletionQueue by one thread. It prints the figures of each server
// (peers grpc-sync and grpc-callback) and, as peer grpc, the better of each.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench.h"
#include "echo.grpc.pb.h"

namespace
{

// ============================== the servers ==============================

class SyncEcho final : public bench::Echo::Service
{
    grpc::Status Echo(grpc::ServerContext *, const bench::Msg *req, bench::Msg *resp) override
    {
        resp->set_data(req->data());
        return grpc::Status::OK;
    }
};

class CallbackEcho final : public bench::Echo::CallbackService
{
    grpc::ServerUnaryReactor *Echo(grpc::CallbackServerContext *ctx, const bench::Msg *req,
                                   bench::Msg *resp) override
    {
        resp->set_data(req->data());
        grpc::ServerUnaryReactor *r = ctx->DefaultReactor();
        r->Finish(grpc::Status::OK);
        return r;
    }
};

int serve(const bench_opts *o)
{
    std::string variant = o->variant != nullptr ? o->variant : "sync";
    SyncEcho sync_echo;
    CallbackEcho callback_echo;
    grpc::ServerBuilder b;
    int port = 0;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    if (variant == "sync") {
        b.RegisterService(&sync_echo);
    } else if (variant == "callback") {
        b.RegisterService(&callback_echo);
    } else {
        bench_fail("unknown --variant %s (sync or callback)", variant.c_str());
        return 2;
    }
    std::unique_ptr<grpc::Server> srv = b.BuildAndStart();
    if (srv == nullptr || port == 0) {
        bench_fail("cannot start the %s server", variant.c_str());
        return 1;
    }
    std::string address = "127.0.0.1:" + std::to_string(port);
    bench_serve_ready(address.c_str());
    srv->Shutdown();
    return 0;
}

// ============================== the client ==============================

struct Client {
    const bench_opts *o;
    std::unique_ptr<bench::Echo::Stub> stub;
    bench::Msg req;
};

bool echoed(const Client *c, const grpc::Status &st, const bench::Msg &resp)
{
    const std::string &d = resp.data();
    return st.ok() &&
           bench_check(reinterpret_cast<const uint8_t *>(d.data()), d.size(), c->o->payload);
}

extern "C" int call_once(void *arg)
{
    Client *c = static_cast<Client *>(arg);
    grpc::ClientContext ctx;
    bench::Msg resp;
    grpc::Status st = c->stub->Echo(&ctx, c->req, &resp);
    if (!echoed(c, st, resp)) {
        bench_fail("call failed: %s", st.error_message().c_str());
        return -1;
    }
    return 0;
}

// A slot is one call in flight; its completion starts the next.
struct Slot {
    std::unique_ptr<grpc::ClientContext> ctx;
    std::unique_ptr<grpc::ClientAsyncResponseReader<bench::Msg>> rpc;
    bench::Msg resp;
    grpc::Status st;
};

void start(Client *c, grpc::CompletionQueue *cq, Slot *s)
{
    s->ctx = std::make_unique<grpc::ClientContext>();
    s->resp.Clear();
    s->rpc = c->stub->AsyncEcho(s->ctx.get(), c->req, cq);
    s->rpc->Finish(&s->resp, &s->st, s);
}

int throughput(Client *c, double *rate)
{
    const bench_opts *o = c->o;
    bench_flow *flow = bench_flow_new(o->inflight);
    if (flow == nullptr)
        return -1;
    grpc::CompletionQueue cq;
    std::vector<Slot> slots(static_cast<size_t>(o->inflight));
    for (Slot &s : slots)
        start(c, &cq, &s);
    std::thread poller([&] {
        void *tag;
        bool ok;
        while (bench_flow_running(flow) > 0 && cq.Next(&tag, &ok)) {
            Slot *s = static_cast<Slot *>(tag);
            bool good = ok && echoed(c, s->st, s->resp);
            if (!good)
                bench_fail("call failed: %s", s->st.error_message().c_str());
            if (bench_flow_finish(flow, good))
                start(c, &cq, s);
        }
    });
    int rv = bench_flow_measure(o, flow, rate);
    poller.join();
    cq.Shutdown();
    void *tag;
    bool ok;
    while (cq.Next(&tag, &ok))
        ;
    bench_flow_free(flow);
    return rv;
}

// run measures one server; the figures go to stdout as peer and into best.
int run(const bench_opts *o, const char *address, const char *peer, double best[3])
{
    Client c{o, nullptr, {}};
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1); // a connection of its own
    c.stub = bench::Echo::NewStub(
        grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
    std::string payload(o->payload, '\0');
    bench_fill(reinterpret_cast<uint8_t *>(&payload[0]), o->payload);
    c.req.set_data(payload);

    double p50, p99, rate;
    if (o->latency) {
        if (bench_latency(o, call_once, &c, &p50, &p99) != 0)
            return -1;
        bench_result(peer, "p50_us", p50);
        bench_result(peer, "p99_us", p99);
        best[0] = std::min(best[0], p50);
        best[1] = std::min(best[1], p99);
    }
    if (o->throughput) {
        if (throughput(&c, &rate) != 0)
            return -1;
        bench_result(peer, "throughput", rate);
        best[2] = std::max(best[2], rate);
    }
    return 0;
}

} // namespace

int main(int argc, char **argv)
{
    bench_opts o;
    bench_parse(&o, argc, argv,
                "bench-rpc-grpc measures unary echo through gRPC C++ over tcp loopback, with "
                "the sync server and the callback server (--variant sync|callback with "
                "--serve), and reports the better of each figure as peer grpc.");
    if (o.serve)
        return serve(&o);
    double best[3] = {1e300, 1e300, 0};
    if (o.connect != nullptr)
        return run(&o, o.connect, "grpc", best) == 0 ? 0 : 1;

    // Both children start before this process touches gRPC.
    const char *variants[] = {"sync", "callback"};
    bench_server servers[2];
    for (int i = 0; i < 2; i++) {
        if (bench_spawn(&servers[i], &o, variants[i]) != 0) {
            for (int j = 0; j < i; j++)
                bench_stop(&servers[j]);
            return 1;
        }
    }
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        std::string peer = std::string("grpc-") + variants[i];
        rc = run(&o, servers[i].address, peer.c_str(), best);
    }
    for (int i = 0; i < 2; i++) {
        if (bench_stop(&servers[i]) != 0) {
            bench_fail("the %s server did not exit cleanly", variants[i]);
            rc = 1;
        }
    }
    if (rc != 0)
        return 1;
    if (o.latency) {
        bench_result("grpc", "p50_us", best[0]);
        bench_result("grpc", "p99_us", best[1]);
    }
    if (o.throughput)
        bench_result("grpc", "throughput", best[2]);
    return 0;
}
