src/a_test.c
