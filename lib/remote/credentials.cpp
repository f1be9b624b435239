// CredentialProvider: the chain's answer, cached and refreshed before it expires; and the
// ISO 8601 timestamps every temporary credential carries.
#include <kache/remote/credentials.hpp>

#include <charconv>

namespace kache::remote {

namespace {

using Clock = std::chrono::system_clock;

// True while creds may still be used to sign (a request takes a moment to arrive).
bool usable(const Credentials& c, Clock::time_point now) {
    return !c.expiration || now + std::chrono::seconds(30) < *c.expiration;
}

// True when creds should be fetched again.
bool due(const Credentials& c, Clock::time_point now) {
    return c.expiration && now + k_refresh_margin >= *c.expiration;
}

// The years a timestamp may name (credential expirations, listings' LastModified).
constexpr int k_min_year = 1970;
constexpr int k_max_year = 2200;

bool digits(std::string_view s, std::size_t at, std::size_t n, int& out) {
    if (at + n > s.size()) return false;
    auto [end, ec] = std::from_chars(s.data() + at, s.data() + at + n, out);
    return ec == std::errc() && end == s.data() + at + n;
}

} // namespace

Result<Clock::time_point> parse_iso8601(std::string_view s) {
    // YYYY-MM-DDTHH:MM:SS[.fff](Z|+hh:mm|-hh:mm)
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
    auto bad = [&] { return fail(ErrorKind::invalid_input, "not an ISO 8601 time: '" + std::string(s.substr(0, 40)) + "'"); };
    if (s.size() < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        s[13] != ':' || s[16] != ':')
        return bad();
    if (!digits(s, 0, 4, y) || !digits(s, 5, 2, mo) || !digits(s, 8, 2, d) || !digits(s, 11, 2, h) ||
        !digits(s, 14, 2, mi) || !digits(s, 17, 2, sec))
        return bad();
    std::size_t i = 19;
    if (i < s.size() && s[i] == '.') {
        ++i;
        std::size_t start = i;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - start < 12) ++i;
        if (i == start) return bad();
    }
    int offset_min = 0;
    if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
        ++i;
    } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
        int oh = 0, om = 0;
        if (!digits(s, i + 1, 2, oh) || i + 3 >= s.size() || s[i + 3] != ':' || !digits(s, i + 4, 2, om) || oh > 23 ||
            om > 59)
            return bad();
        offset_min = (s[i] == '-' ? -1 : 1) * (oh * 60 + om);
        i += 6;
    } else {
        return bad(); // no zone: a local time of somewhere unknown
    }
    if (i != s.size()) return bad();
    std::chrono::year_month_day ymd{std::chrono::year(y), std::chrono::month(unsigned(mo)), std::chrono::day(unsigned(d))};
    // system_clock counts nanoseconds in 64 bits: a year past 2262 would overflow it.
    if (!ymd.ok() || y < k_min_year || y > k_max_year || h > 23 || mi > 59 || sec > 60) return bad();
    auto t = std::chrono::sys_days(ymd) + std::chrono::hours(h) + std::chrono::minutes(mi) + std::chrono::seconds(sec) -
             std::chrono::minutes(offset_min);
    return std::chrono::time_point_cast<Clock::duration>(t);
}

// ---- the provider ----------------------------------------------------------------------------

CredentialProvider::CredentialProvider(CredentialSource source) : source_(std::move(source)) {}

std::shared_ptr<CredentialProvider> CredentialProvider::fixed(Credentials creds) {
    auto p = std::shared_ptr<CredentialProvider>(new CredentialProvider(nullptr));
    p->cached_ = std::move(creds);
    p->cached_->expiration.reset(); // nothing to refresh them from
    return p;
}

std::shared_ptr<CredentialProvider> CredentialProvider::from_source(CredentialSource source) {
    return std::shared_ptr<CredentialProvider>(new CredentialProvider(std::move(source)));
}

Result<Credentials> CredentialProvider::current() {
    std::unique_lock lock(mu_);
    for (;;) {
        const auto now = Clock::now();
        const bool have = cached_ && usable(*cached_, now);
        if (have && (!due(*cached_, now) || !source_)) return *cached_;
        // Refreshed, or failed to, a moment ago: keep using what still works.
        if (have && std::chrono::steady_clock::now() < retry_after_) return *cached_;
        // Another thread is asking the source: use what still works, or wait for its answer.
        if (refreshing_) {
            if (have) return *cached_;
            refreshed_.wait(lock, [&] { return !refreshing_; });
            continue;
        }
        // A recent attempt failed: do not hammer the source on every request.
        if (last_error_ && std::chrono::steady_clock::now() < retry_after_) return std::unexpected(*last_error_);
        if (!source_) return fail(ErrorKind::config, "the fixed S3 credentials have expired");
        refreshing_ = true;
        lock.unlock();
        Result<std::optional<Credentials>> got = fail(ErrorKind::internal, "the credential source threw");
        try {
            got = source_();
        } catch (const std::exception& e) {
            got = fail(ErrorKind::internal, std::string("the credential source failed: ") + e.what());
        }
        lock.lock();
        refreshing_ = false;
        refreshed_.notify_all();
        if (got && *got && !(*got)->access_key.empty() && !(*got)->secret_key.empty() &&
            usable(**got, Clock::now())) {
            cached_ = std::move(**got);
            last_error_.reset();
            fetched_at_ = std::chrono::steady_clock::now();
            retry_after_ = fetched_at_ + k_min_refresh_spacing;
            return *cached_;
        }
        Error e = !got ? got.error()
                       : (*got ? Error{ErrorKind::denied, "the credentials from " + (*got)->source +
                                                              " lack a key or have expired already"}
                               : Error{ErrorKind::config,
                                       "no S3 credentials found: set KACHE_S3_ACCESS_KEY and KACHE_S3_SECRET_KEY, "
                                       "or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_ROLE_ARN and "
                                       "AWS_WEB_IDENTITY_TOKEN_FILE, or a profile in ~/.aws"});
        last_error_ = e;
        retry_after_ = std::chrono::steady_clock::now() + k_refresh_retry_interval;
        if (cached_ && usable(*cached_, Clock::now())) return *cached_;
        return std::unexpected(e);
    }
}

bool CredentialProvider::reject(const Credentials& used) {
    std::lock_guard lock(mu_);
    if (!source_) return false; // fixed keys: nothing else to sign with
    // Another request already brought newer credentials: sign with those.
    if (!cached_ || cached_->access_key != used.access_key || cached_->session_token != used.session_token)
        return true;
    if (std::chrono::steady_clock::now() < fetched_at_ + k_min_refresh_spacing) return false;
    cached_.reset();
    last_error_.reset();
    retry_after_ = {};
    return true;
}

} // namespace kache::remote
