// bench_overlay's nexo side: NOT BUILT YET. The node (overlay/node.hpp) is not
// on main; until it is, this entry only says so, and every nexo figure of the
// benchmark is printed as not run. When the node lands, this file becomes an
// Impl (overlay_impl.hpp) over it: N nodes on one overlay::UdpHost on
// 127.0.0.1, node i > 0 bootstrapped from node 0, BEP 44 immutable puts
// (key = SHA-1 of the bencoded value), datagrams counted at the sockets.
#include "overlay_impl.hpp"

namespace nexo::bench::overlay {

ImplEntry nexo_entry() {
  ImplEntry e;
  e.name = "nexo";
  e.about = "nexo's overlay node: not built yet";
  e.make = []() -> Result<std::unique_ptr<Impl>> {
    return Error(ErrorKind::invalid_argument,
                 "the nexo node (overlay/node.hpp) is not on main yet");
  };
  return e;
}

}  // namespace nexo::bench::overlay
