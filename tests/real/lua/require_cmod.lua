-- `require` of a C module: lua's loadlib dlopens it and dlsyms its
-- luaopen_ function; the module calls back into liblua5.4.so.
local dir = assert(arg[1], "usage: require_cmod.lua <directory of stormless_cmod.so>")
package.cpath = dir .. "/?.so"
package.path = ""
local cmod = require("stormless_cmod")
print("loaded:", cmod.name, package.loaded.stormless_cmod == cmod)
print("add:", cmod.add(40, 2), cmod.add(-5, 3))
print("reverse:", cmod.reverse("stormless"))
print("sorted:", table.concat(cmod.sorted({ 5, 3, 9, 1, 7 }), " "))
local next_id = cmod.counter(100)
print("counter:", next_id(), next_id(), next_id())
print("error:", pcall(cmod.add, 1, "x"))
print("again:", require("stormless_cmod") == cmod)
local loader = package.loadlib(dir .. "/stormless_cmod.so", "luaopen_stormless_cmod")
print("loadlib:", type(loader), loader and loader().name)
print("missing symbol:", package.loadlib(dir .. "/stormless_cmod.so", "no_such_function") == nil)
