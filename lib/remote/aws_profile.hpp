// lib/remote/aws_profile.hpp — a named profile of the AWS shared files (~/.aws/credentials
// and ~/.aws/config), read as untrusted text (private to libkache_remote).
#pragma once

#include <kache/remote/credentials.hpp>

#include <filesystem>
#include <map>
#include <string>

namespace kache::remote::detail {

struct AwsProfile {
    std::string name;
    bool found = false; // a section of this name exists in either file
    // setting -> (value, the file it came from); the credentials file wins over config.
    std::map<std::string, std::pair<std::string, std::filesystem::path>> settings;

    // The value of a setting, or "" when unset.
    std::string get(const std::string& key) const;
    // "profile 'ci' in /home/u/.aws/config" for the file that holds `key`.
    std::string where(const std::string& key) const;
};

// ~/.aws/<name>, or the file named by override_var (AWS_SHARED_CREDENTIALS_FILE,
// AWS_CONFIG_FILE); empty when there is no HOME.
std::filesystem::path aws_file(const EnvLookup& env, std::string_view override_var, const char* name);

// Reads profile `name` from both files; a missing file is an empty one.
AwsProfile read_aws_profile(const EnvLookup& env, const std::string& name);

} // namespace kache::remote::detail
