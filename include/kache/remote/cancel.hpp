// kache/remote/cancel.hpp — stopping every remote transfer of this process at once.
//
// The daemon calls cancel_transfers() when it stops: transfers in flight abort within
// about a second (libcurl's progress callback checks the flag), new ones fail at once,
// and retry sleeps wake, so a stalled remote cannot hold the daemon up. What was being
// uploaded keeps its intent on disk and is replayed on the next start.
#pragma once

#include <chrono>

namespace kache::remote {

// Cancels every transfer, now and until allow_transfers().
void cancel_transfers() noexcept;
// Lets transfers run again (a daemon starting in a process where one stopped).
void allow_transfers() noexcept;
bool transfers_cancelled() noexcept;
// Sleeps for d, or less if transfers are cancelled meanwhile; false when cancelled.
bool sleep_unless_cancelled(std::chrono::milliseconds d);

} // namespace kache::remote
