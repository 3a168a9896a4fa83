-- wrk script: the fleet in steady state. Each request either releases work
-- this thread placed earlier (DELETE, oldest first) or places a new 1-GPU
-- workload (POST), so placements keep succeeding instead of filling the fleet
-- and answering "pending". Answers are told apart by their body (responses
-- of a thread's connections may come back in any order).
local counter = 0
local threads = {}
local queue = {}
setup = function(thread)
    thread:set("tid", #threads + 1)
    threads[#threads + 1] = thread
end
init = function(args)
    tid = tonumber(wrk.thread:get("tid")) or 0
    wrk.headers["Content-Type"] = "application/json"
    placed, pending, released, other = 0, 0, 0, 0
end
request = function()
    -- release once a few placements are waiting, so about half the requests
    -- are decisions and the running count stays level
    if #queue > 8 then
        local id = table.remove(queue, 1)
        return wrk.format("DELETE", "/v1/placements/" .. id, nil, nil)
    end
    counter = counter + 1
    local body = string.format('{"id":"c%s-%d-%d","gpus":1,"sensitivity":"public","priority":%d}',
        os.getenv("RUN") or "0", tid, counter, counter % 50)
    return wrk.format("POST", "/v1/placements", nil, body)
end
response = function(status, headers, body)
    local state = body:match('"state"%s*:%s*"(%a+)"')
    if status == 201 and state == "placed" then
        placed = placed + 1
        local id = body:match('"workload"%s*:%s*"([^"]+)"')
        if id then queue[#queue + 1] = id end
    elseif status == 200 and state == "pending" then pending = pending + 1
    elseif status == 200 and state == "released" then released = released + 1
    else other = other + 1 end
end
done = function(summary, latency, requests)
    local p, q, r, o = 0, 0, 0, 0
    for _, t in ipairs(threads) do
        p = p + t:get("placed"); q = q + t:get("pending")
        r = r + t:get("released"); o = o + t:get("other")
    end
    local s = summary.duration / 1e6
    io.write(string.format("answers: %d placed (201), %d pending (200), %d released (200), %d other; " ..
        "%.0f decisions/s (POST), %.0f releases/s\n", p, q, r, o, (p + q) / s, r / s))
end
