-- wrk script: the same GET shape against `serve --ceiling` (answers {}).
request = function()
    return wrk.format("GET", "/v1/nodes/x")
end
