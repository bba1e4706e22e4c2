#include <stdio.h>
int main(void) { puts("luobo: under construction"); return 0; }
