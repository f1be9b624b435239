// lib/wrapper/miss_notes.hpp — private to the wrapper: what a miss leaves behind
// besides its entry. Called on misses only: the hit path does none of it.
#pragma once

#include "context.hpp"

#include <cstdint>
#include <string>

namespace kache::wrapper {

// ---- why_note.cpp

// Keeps what `kache why-miss` needs about this miss: K1's components and, when the
// compile was recorded (recorded non-null), its input set and the new key's
// components beside the manifest. reason says why nothing was recorded. Failures
// are silent: a why-miss without data is no reason to warn during a build.
void note_miss(const Context& c, const key::InputSet* recorded, const std::string& reason);

// ---- size_cap.cpp

// Adds a record's bytes to the store's size counter and, when that passes max_size
// (or the counter is unknown), starts a detached `kache gc --if-over-cap` — unless a
// daemon runs (its GC keeps the cap) or a trim runs already.
void note_stored_bytes(const Context& c, std::uint64_t bytes);

} // namespace kache::wrapper
