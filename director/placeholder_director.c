/* placeholder so the library is not empty */
int lb_director_placeholder_;
