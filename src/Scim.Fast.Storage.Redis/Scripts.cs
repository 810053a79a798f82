namespace Scim.Fast.Storage.Redis;

/// <summary>
/// The Lua scripts every write runs as (DESIGN-NOTES §11). A script is atomic on its node: the
/// version check, the uniqueness check, the resource, every index entry, a member change, an
/// attachment and the change-feed entry happen together or not at all. Every key a script builds
/// carries the tenant's hash tag (ARGV[1]), so all of them are in the slot of KEYS[1].
/// </summary>
internal static class Scripts
{
    /// <summary>Status codes the scripts return (StoreStatus, and -1: the attachment was made for another version).</summary>
    public const int Retry = -1;

    // Shared pieces: removing a resource's index entries, applying a member change.
    private const string Helpers = """
        local function is_ordered(P, k)
          return string.sub(k, #P + 1, #P + 2) == 'o:'
        end
        local function drop_entries(P, ekey)
          local pairs_ = redis.call('LRANGE', ekey, 0, -1)
          for i = 1, #pairs_, 2 do
            local k = pairs_[i]
            if is_ordered(P, k) then
              redis.call('ZREM', k, pairs_[i + 1])
            else
              redis.call('SREM', k, pairs_[i + 1])
            end
          end
          redis.call('DEL', ekey)
        end
        -- n (key, member) index entries from ARGV[first], recorded in the entry list ekey.
        local function add_entries(P, ekey, n, first)
          for j = 0, n - 1 do
            local k, m = ARGV[first + 2 * j], ARGV[first + 1 + 2 * j]
            if is_ordered(P, k) then
              redis.call('ZADD', k, 0, m)
            else
              redis.call('SADD', k, m)
            end
            redis.call('RPUSH', ekey, k, m)
          end
        end
        local function change_members(P, group, removeAll, added, removed)
          local mkey = P .. 'm:' .. group
          if removeAll == '1' then
            if redis.call('SCARD', mkey) > 1000 then
              -- A big group: its former members move aside at once (O(1)) and their links back
              -- are dropped afterwards a chunk at a time (DetachChunk), so no script runs long.
              -- Until then readers check a member's groups against the groups' own sets.
              local dkey = P .. 'dm:' .. redis.call('INCR', P .. 'dseq')
              redis.call('RENAME', mkey, dkey)
              redis.call('HSET', P .. 'dq', dkey, group)
            else
              local former = redis.call('SMEMBERS', mkey)
              for _, m in ipairs(former) do
                redis.call('SREM', P .. 'g:' .. m, group)
              end
              redis.call('DEL', mkey)
            end
          end
          for _, m in ipairs(removed) do
            redis.call('SREM', mkey, m)
            redis.call('SREM', P .. 'g:' .. m, group)
          end
          for _, m in ipairs(added) do
            redis.call('SADD', mkey, m)
            redis.call('SADD', P .. 'g:' .. m, group)
          end
        end
        local function take_list(i)
          local n = tonumber(ARGV[i])
          local list = {}
          for j = 1, n do
            list[j] = ARGV[i + j]
          end
          return list, i + n + 1
        end
        local function append_change(P, version, ext, blob, time)
          local seq = redis.call('INCR', P .. 'fs')
          local fields = {'v', version, 't', time, 'e', blob}
          if ext then
            fields[7] = 'x'
            fields[8] = ext
          end
          redis.call('XADD', P .. 'f', '0-' .. seq, unpack(fields))
        end
        """;

    /// <summary>
    /// Create ('c'), replace ('r') or delete ('d') one resource. KEYS[1] the resource hash.
    /// ARGV: tag, type, id, mode, expected version, predicted version (both '' for none),
    /// userName ('' none), its unique key, externalId ('' none, else '+' and it), its set key,
    /// body, entry pair count n and n (key, member) pairs, removeAll, added list, removed list
    /// (each a count and the ids), attachment key and value ('' none), change blob ('' none), time.
    /// Returns {status, version}.
    /// </summary>
    public const string Write = Helpers + "\n" + """
        local P, ty, id, mode = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
        local expected, predicted = ARGV[5], ARGV[6]
        local uname, ukey, ext, xkey, body = ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11]
        local r = KEYS[1]
        local ekey = P .. 'e:' .. ty .. ':' .. id
        local tomb = P .. 't:' .. ty .. ':' .. id
        local cur = redis.call('HGET', r, 'v')
        if mode == 'c' then
          if cur then return {4, tonumber(cur)} end
        else
          if not cur then return {1, 0} end
          if expected ~= '' and tonumber(cur) ~= tonumber(expected) then return {2, tonumber(cur)} end
        end
        if mode ~= 'd' and ukey ~= '' then
          local owner = redis.call('GET', ukey)
          if owner and owner ~= id then return {3, 0} end
        end
        local version
        if cur then version = tonumber(cur) + 1 else version = tonumber(redis.call('GET', tomb) or '0') + 1 end
        if predicted ~= '' and tonumber(predicted) ~= version then return {-1, version} end

        local oldExt = false
        if cur then
          local old = redis.call('HMGET', r, 'uk', 'xk', 'x')
          if old[1] and redis.call('GET', old[1]) == id then redis.call('DEL', old[1]) end
          if old[2] then redis.call('SREM', old[2], id) end
          oldExt = old[3]
          drop_entries(P, ekey)
          redis.call('DEL', r)
        end

        local n = tonumber(ARGV[12])
        local i = 13 + 2 * n
        local removeAll = ARGV[i]
        local added, removed
        added, i = take_list(i + 1)
        removed, i = take_list(i)
        local akey, avalue, blob, time = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]

        local eventExt = false
        if mode == 'd' then
          redis.call('SET', tomb, version)
          eventExt = oldExt
        else
          local fields = {'v', version, 'b', body}
          if ukey ~= '' then
            redis.call('SET', ukey, id)
            table.insert(fields, 'u'); table.insert(fields, uname)
            table.insert(fields, 'uk'); table.insert(fields, ukey)
          end
          if ext ~= '' then
            eventExt = string.sub(ext, 2)
            redis.call('SADD', xkey, id)
            table.insert(fields, 'x'); table.insert(fields, eventExt)
            table.insert(fields, 'xk'); table.insert(fields, xkey)
          end
          redis.call('HSET', r, unpack(fields))
          add_entries(P, ekey, n, 13)
        end

        if removeAll == '1' or #added > 0 or #removed > 0 then
          change_members(P, id, removeAll, added, removed)
        end
        if akey ~= '' then redis.call('SET', akey, avalue) end
        if blob ~= '' then append_change(P, version, eventExt, blob, time) end
        return {0, version}
        """;

    /// <summary>
    /// New index entries for the resource at a version, keeping everything else (an index build).
    /// KEYS[1] the resource hash; ARGV: tag, type, id, version, n, n (key, member) pairs.
    /// </summary>
    public const string Reindex = Helpers + "\n" + """
        local P, ty, id, version = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
        local cur = redis.call('HGET', KEYS[1], 'v')
        if not cur then return 1 end
        if tonumber(cur) ~= tonumber(version) then return 2 end
        local ekey = P .. 'e:' .. ty .. ':' .. id
        drop_entries(P, ekey)
        add_entries(P, ekey, tonumber(ARGV[5]), 6)
        return 0
        """;

    /// <summary>A membership delta. KEYS[1] the group's member set; ARGV: tag, group, removeAll, added list, removed list.</summary>
    public const string Members = Helpers + "\n" + """
        local added, removed, i
        added, i = take_list(4)
        removed, i = take_list(i)
        change_members(ARGV[1], ARGV[2], ARGV[3], added, removed)
        return 0
        """;

    /// <summary>Removes a member from every group. KEYS[1] the member's group set; ARGV: tag, member.</summary>
    public const string LeaveAll = """
        local groups = redis.call('SMEMBERS', KEYS[1])
        for _, g in ipairs(groups) do
          redis.call('SREM', ARGV[1] .. 'm:' .. g, ARGV[2])
        end
        redis.call('DEL', KEYS[1])
        return #groups
        """;

    /// <summary>
    /// Drops feed entries older than a cutoff, up to a count. KEYS[1] the stream; ARGV: tag, cutoff,
    /// count. Returns how many; the first kept sequence goes to 'ff'.
    /// </summary>
    public const string SweepFeed = """
        local entries = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', tonumber(ARGV[3]))
        local dropped = 0
        for _, e in ipairs(entries) do
          local f = e[2]
          local t
          for j = 1, #f, 2 do if f[j] == 't' then t = tonumber(f[j + 1]) end end
          if not t or t >= tonumber(ARGV[2]) then break end
          redis.call('XDEL', KEYS[1], e[1])
          local seq = tonumber(string.sub(e[1], 3))
          redis.call('SET', ARGV[1] .. 'ff', seq + 1)
          dropped = dropped + 1
        end
        return dropped
        """;

    /// <summary>A lease: taken when free, renewed by its holder. KEYS[1] the lease; ARGV: holder, milliseconds.</summary>
    public const string Lease = """
        local current = redis.call('GET', KEYS[1])
        if current == false or current == ARGV[1] then
          redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
          return 1
        end
        return 0
        """;

    /// <summary>
    /// Up to a chunk of a moved-aside member set (see change_members): each member's link back to
    /// the group goes, unless the member is in the group again. KEYS[1] the moved-aside set; ARGV:
    /// tag, group, chunk size. Returns how many were taken; 0 once the set is gone (and dequeued).
    /// </summary>
    public const string DetachChunk = """
        local P, group = ARGV[1], ARGV[2]
        local taken = redis.call('SPOP', KEYS[1], tonumber(ARGV[3]))
        for _, m in ipairs(taken) do
          if redis.call('SISMEMBER', P .. 'm:' .. group, m) == 0 then
            redis.call('SREM', P .. 'g:' .. m, group)
          end
        end
        if redis.call('EXISTS', KEYS[1]) == 0 then
          redis.call('HDEL', P .. 'dq', KEYS[1])
        end
        return #taken
        """;

    /// <summary>
    /// A member's groups, each checked against the group's own set (a link back may still wait for
    /// DetachChunk). KEYS[1] the member's group set; ARGV: tag, member.
    /// </summary>
    public const string GroupsOf = """
        local out = {}
        for _, g in ipairs(redis.call('SMEMBERS', KEYS[1])) do
          if redis.call('SISMEMBER', ARGV[1] .. 'm:' .. g, ARGV[2]) == 1 then
            out[#out + 1] = g
          end
        end
        return out
        """;
}
