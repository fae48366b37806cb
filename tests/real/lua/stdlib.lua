-- Lua's C library under both loaders: string, table, math, os, io,
-- coroutines and errors. Every line printed is deterministic.

-- string: gsub with a function, patterns, format
local text = "the quick brown fox jumps over the lazy dog"
local capitalised, n = text:gsub("(%w)(%w*)", function(first, rest) return first:upper() .. rest end)
print("gsub:", capitalised, n)
local words = {}
for w in text:gmatch("%a+") do words[#words + 1] = w end
print("words:", #words, "longest first match:", text:match("(%a%a%a%a%a+)"))
print(string.format("format: [%5d] [%-6s] [%08.3f] [%x] [%q]", 42, "ab", math.pi, 48879, "a\nb\"c"))
print("find:", text:find("fox"), text:find("o", 1, true), ("%d+"):rep(2, ","))
print("byte/char:", ("ABC"):byte(1, -1), string.char(72, 105))
print("pack:", #string.pack("<i4 i8 d", 1, 2, 3.5), string.unpack("<i4", string.pack("<i4", -7)))

-- table: sort with and without a comparator, concat, insert, remove
local numbers = { 42, 7, 19, 3, 88, 61, 25, 3 }
table.sort(numbers)
print("sorted:", table.concat(numbers, " "))
table.sort(numbers, function(a, b) return a > b end)
print("descending:", table.concat(numbers, " "))
local people = { { "grace", 85 }, { "ada", 36 }, { "linus", 54 }, { "alan", 41 } }
table.sort(people, function(a, b) return a[2] < b[2] end)
local names = {}
for _, p in ipairs(people) do names[#names + 1] = p[1] end
print("by age:", table.concat(names, ","))
table.insert(names, 1, "first")
print("removed:", table.remove(names), "now:", table.concat(names, ","), select("#", table.unpack(names)))

-- math: integer and float arithmetic, seeded random numbers
print("math:", 7 // 2, 7 % 3, 2 ^ 10, math.maxinteger, math.mininteger, 1 / 3)
print("math:", math.floor(-3.5), math.ceil(-3.5), math.sqrt(2), math.fmod(7, 3), math.tointeger(8.0))
print("math:", math.type(1), math.type(1.0), math.type("1"), math.huge, -math.huge, math.abs(-0.0))
print(string.format("trig: %.6f %.6f %.6f %.6f", math.sin(1), math.cos(1), math.exp(1), math.log(100, 10)))
math.randomseed(20240601)
local draws = {}
for i = 1, 5 do draws[i] = math.random(1, 1000) end
print("random:", table.concat(draws, " "))

-- os: a fixed time, formatted in UTC and (TZ=UTC0) in local time
local t = 1700000000
print("date:", os.date("!%Y-%m-%d %H:%M:%S %A %j", t))
print("date:", os.date("%c", t))
local fields = os.date("!*t", t)
print("fields:", fields.year, fields.month, fields.day, fields.hour, fields.min, fields.sec, fields.yday)
print("time:", os.time({ year = 2000, month = 1, day = 1, hour = 12 }))
print("getenv:", os.getenv("TZ"), os.getenv("STORMLESS_NO_SUCH_VARIABLE"))

-- io: write a file, read it back by lines and whole, seek
local path = "lua-io-test.txt"
local f = assert(io.open(path, "w"))
for i = 1, 5 do f:write(string.format("line %d: %s\n", i, ("x"):rep(i))) end
f:write("end")
f:close()
f = assert(io.open(path, "r"))
local count = 0
for line in f:lines() do count = count + 1 end
print("lines read:", count)
f:seek("set", 5)
print("after seek:", f:read("l"))
print("size:", f:seek("end"))
f:close()
f = assert(io.open(path, "rb"))
local all = f:read("a")
f:close()
print("bytes:", #all, "last:", all:sub(-3))
print("missing:", io.open("no-such-dir/file.txt", "r"))
print("remove:", os.remove(path), io.open(path, "r"))

-- coroutines: a generator and passing values both ways
local function fib(n)
    return coroutine.wrap(function()
        local a, b = 0, 1
        for _ = 1, n do
            coroutine.yield(a)
            a, b = b, a + b
        end
    end)
end
local fibs = {}
for v in fib(15) do fibs[#fibs + 1] = v end
print("fibonacci:", table.concat(fibs, " "))
local co = coroutine.create(function(x)
    local y = coroutine.yield(x * 2)
    local z = coroutine.yield(x + y)
    return "done", z
end)
print("resume:", coroutine.resume(co, 10))
print("resume:", coroutine.resume(co, 5))
print("resume:", coroutine.resume(co, "last"))
print("resume:", coroutine.resume(co), coroutine.status(co))

-- errors: error with tables and strings, pcall, xpcall, error levels
local ok, err = pcall(function() error({ code = 7 }) end)
print("table error:", ok, type(err), err.code)
print("string error:", pcall(function() error("plain", 0) end))
print("runtime error:", pcall(function() local t = nil; return t.field end))
print("xpcall:", xpcall(function() error("deep") end, function(m) return "handled: " .. m:gsub("^.-:%d+: ", "") end))
print("tostring:", tostring(nil), tostring(true), tostring(12), tostring(12.5), 10 == 10.0, "10" + 5)
print("done")
