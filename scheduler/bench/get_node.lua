-- wrk script: GET /v1/nodes/{id} over the node ids in the file named by NODES.
local ids = {}
for line in io.lines(os.getenv("NODES")) do ids[#ids + 1] = line end
local i = 0
request = function()
    i = i % #ids + 1
    return wrk.format("GET", "/v1/nodes/" .. ids[i])
end
