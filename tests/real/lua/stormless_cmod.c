/* A Lua C module for the real-programs test: loaded by `require` through
 * dlopen/dlsym, it calls lua_* and luaL_* in liblua5.4.so and qsort in libc. */
#include <stdlib.h>
#include "lua.h"
#include "lauxlib.h"

static int add(lua_State *L)
{
	lua_Integer a = luaL_checkinteger(L, 1);
	lua_Integer b = luaL_checkinteger(L, 2);
	lua_pushinteger(L, a + b);
	return 1;
}

static int reverse(lua_State *L)
{
	size_t n;
	const char *s = luaL_checklstring(L, 1, &n);
	luaL_Buffer b;
	char *p = luaL_buffinitsize(L, &b, n);
	for (size_t i = 0; i < n; i++)
		p[i] = s[n - 1 - i];
	luaL_pushresultsize(&b, n);
	return 1;
}

static int compare(const void *a, const void *b)
{
	lua_Integer x = *(const lua_Integer *)a, y = *(const lua_Integer *)b;
	return (x > y) - (x < y);
}

static int sorted(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_Integer n = luaL_len(L, 1);
	lua_Integer *v = lua_newuserdatauv(L, (size_t)n * sizeof *v, 0);
	for (lua_Integer i = 0; i < n; i++) {
		lua_geti(L, 1, i + 1);
		v[i] = luaL_checkinteger(L, -1);
		lua_pop(L, 1);
	}
	qsort(v, (size_t)n, sizeof *v, compare);
	lua_createtable(L, (int)n, 0);
	for (lua_Integer i = 0; i < n; i++) {
		lua_pushinteger(L, v[i]);
		lua_seti(L, -2, i + 1);
	}
	return 1;
}

static int next_id(lua_State *L)
{
	lua_Integer id = lua_tointeger(L, lua_upvalueindex(1));
	lua_pushinteger(L, id + 1);
	lua_replace(L, lua_upvalueindex(1));
	lua_pushinteger(L, id);
	return 1;
}

static int counter(lua_State *L)
{
	lua_pushinteger(L, luaL_optinteger(L, 1, 0));
	lua_pushcclosure(L, next_id, 1);
	return 1;
}

static const luaL_Reg functions[] = {
	{ "add", add },
	{ "reverse", reverse },
	{ "sorted", sorted },
	{ "counter", counter },
	{ NULL, NULL },
};

int luaopen_stormless_cmod(lua_State *L)
{
	luaL_newlib(L, functions);
	lua_pushliteral(L, "stormless C module");
	lua_setfield(L, -2, "name");
	return 1;
}
