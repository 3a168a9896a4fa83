-- wrk script: POST /v1/placements, one new 1-GPU workload per request (ids
-- unique per thread and run), counting the answers by status.
local counter = 0
local tid = 0
local threads = {}
setup = function(thread)
    thread:set("tid", #threads + 1)
    threads[#threads + 1] = thread
end
init = function(args)
    tid = tonumber(wrk.thread:get("tid")) or 0
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
    placed, pending, other = 0, 0, 0
end
request = function()
    counter = counter + 1
    local body = string.format('{"id":"b%s-%d-%d","gpus":1,"sensitivity":"public","priority":%d}',
        os.getenv("RUN") or "0", tid, counter, counter % 50)
    return wrk.format(nil, "/v1/placements", nil, body)
end
response = function(status, headers, body)
    if status == 201 then placed = placed + 1
    elseif status == 200 then pending = pending + 1
    else other = other + 1 end
end
done = function(summary, latency, requests)
    local p, q, o = 0, 0, 0
    for _, t in ipairs(threads) do
        p = p + t:get("placed"); q = q + t:get("pending"); o = o + t:get("other")
    end
    io.write(string.format("answers: %d placed (201), %d pending (200), %d other\n", p, q, o))
end
