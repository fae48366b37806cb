-- Create, fill and query a database file (run by the first sqlite3 process).
.bail on
.headers on
.mode list
PRAGMA journal_mode = DELETE;
CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT NOT NULL);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    amount REAL NOT NULL,
    item TEXT NOT NULL
);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
INSERT INTO customers (id, name, city)
SELECT i, printf('customer-%03d', i), CASE i % 4 WHEN 0 THEN 'Lyon' WHEN 1 THEN 'Oslo' WHEN 2 THEN 'Quito' ELSE 'Hanoi' END
FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
INSERT INTO orders (id, customer_id, amount, item)
SELECT i, 1 + (i * 37) % 200, ((i * 7919) % 10000) / 100.0, printf('item-%d', i % 13)
FROM n;
CREATE INDEX orders_by_customer ON orders(customer_id);
SELECT count(*) AS customers FROM customers;
SELECT count(*) AS orders, round(sum(amount), 2) AS total, round(avg(amount), 4) AS mean, min(amount) AS least, max(amount) AS most FROM orders;
SELECT c.city, count(*) AS orders, round(sum(o.amount), 2) AS total
FROM orders o JOIN customers c ON c.id = o.customer_id
GROUP BY c.city ORDER BY total DESC;
SELECT c.name, count(o.id) AS n, round(sum(o.amount), 2) AS spent
FROM customers c JOIN orders o ON o.customer_id = c.id
GROUP BY c.id ORDER BY spent DESC, c.name LIMIT 5;
EXPLAIN QUERY PLAN SELECT * FROM orders WHERE customer_id = 17;
